/** Changes and log entries travel as tuples; they must come back exactly as they left. */
import fc from 'fast-check'
import * as v from '../../src/util/schema.js'
import { describe, expect, it } from 'vitest'
import { WireChangeSchema, WireEntrySchema, toWireChange, toWireEntry, type LogEntry } from '../../src/replication/log.js'
import type { Change } from '../../src/objects/objects.js'

const path = fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(9)), { maxLength: 4 })
const patch = fc.oneof(
  fc.record({ op: fc.constantFrom('add', 'replace'), path, value: fc.jsonValue() }),
  fc.record({ op: fc.constant('remove'), path }),
)
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('put'), value: fc.jsonValue() }) as fc.Arbitrary<Change>,
  fc.record({ kind: fc.constant('patch'), patches: fc.array(patch, { minLength: 1, maxLength: 4 }) }) as fc.Arbitrary<Change>,
  fc.constant({ kind: 'delete' } as Change),
)

describe('wire form of changes and entries', () => {
  it('round-trips any change and entry', () => {
    fc.assert(
      fc.property(change, fc.nat(), fc.nat(), (c, seq, epoch) => {
        expect(v.parse(WireChangeSchema, toWireChange(c))).toEqual(c)
        const e: LogEntry = { seq: seq + 1, epoch, vs: 'shop', key: 'k', change: c }
        expect(v.parse(WireEntrySchema, toWireEntry(e))).toEqual(e)
      }),
      { numRuns: 2000 },
    )
  })

  it('is smaller than the object form for a one-field patch', () => {
    const c: Change = { kind: 'patch', patches: [{ op: 'replace', path: ['f7'], value: 12345 }] }
    expect(JSON.stringify(toWireChange(c)).length).toBeLessThan(JSON.stringify(c).length / 2)
  })

  it('refuses what is not a change', () => {
    for (const bad of [[], [3], [0], [1, [5, ['x']]], [1, [0, 'x', 1]], [2, 'extra'], { kind: 'delete' }]) expect(v.safeParse(WireChangeSchema, bad).success, JSON.stringify(bad)).toBe(false)
  })
})
