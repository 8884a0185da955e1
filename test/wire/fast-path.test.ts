/**
 * The hand-written fast paths (src/wire/fast-path.ts) must agree with the schemas they stand in
 * front of: whatever a fast path accepts, the schema accepts with exactly the same output; and the
 * shapes that carry the traffic do take the fast path. Inputs are valid messages, the same with
 * one slot changed, removed or added, and anything at all.
 */
import fc from 'fast-check'
import * as v from '../../src/util/schema.js'
import { describe, expect, it } from 'vitest'
import { acceptWireChange, acceptWireEntry, decodeLog, encodeLog, toWireChange, toWireEntry, WireChangeSchema, WireEntrySchema, type LogEntry } from '../../src/replication/log.js'
import type { Change } from '../../src/objects/objects.js'
import { acceptRepl, acceptWrite, ReplSchema, WriteSchema } from '../../src/store/store-engine.js'
import { acceptEnvelope, KIND, MAX_ADDRESSES_PER_FRAME, TUPLE_SCHEMAS } from '../../src/wire/envelope.js'

const odd = fc.constantFrom<unknown>(undefined, null, -1, -0, 0, 1, 1.5, 2, 3, NaN, Infinity, 65536, 65537, 2 ** 53, '', 'x', 'x'.repeat(129), 'x'.repeat(4097), 'put', 'append', 'ack', 'snapshot', [], {}, [1], [0, ['a']], true)
const path = fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -2, max: 9 })), { maxLength: 3 })
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ kind: fc.constant('patch' as const), patches: fc.array(fc.oneof(fc.record({ op: fc.constantFrom('add' as const, 'replace' as const), path, value: fc.jsonValue({ maxDepth: 1 }) }), fc.record({ op: fc.constant('remove' as const), path })), { maxLength: 3 }) }),
  fc.constant({ kind: 'delete' as const }),
)
const entry = fc.record({ seq: fc.integer({ min: 1, max: 1e6 }), epoch: fc.nat(50), vs: fc.string({ maxLength: 4 }), key: fc.string({ maxLength: 4 }), change }).map((e) => toWireEntry(e as LogEntry))
const int = fc.nat(1e9)
const domain = fc.nat(65536)
const append = fc.record({ type: fc.constant('append'), domain, epoch: int, head: int, commit: int, entries: fc.array(entry, { maxLength: 3 }) })
const ack = fc.record({ type: fc.constant('ack'), domain, epoch: int, upTo: int })
const write = fc.record(
  { vs: fc.string({ minLength: 1, maxLength: 128 }), key: fc.string({ minLength: 1, maxLength: 5 }), change: change.map(toWireChange), ifVersion: fc.option(fc.nat(), { nil: undefined }), hops: fc.option(fc.nat(3), { nil: undefined }) },
  { requiredKeys: ['vs', 'key', 'change'] },
)

const ref = fc.nat(MAX_ADDRESSES_PER_FRAME - 1)
const id = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER))
const methodName = fc.string({ minLength: 1, maxLength: 64 })
const body = fc.oneof(append, ack, write, fc.jsonValue({ maxDepth: 2 }))
const envelopeTuple = fc.oneof(
  fc.tuple(fc.constant(KIND.req), ref, ref, id, methodName, body),
  fc.tuple(fc.constant(KIND.res), ref, ref, id, body),
  fc.tuple(fc.constant(KIND.msg), ref, ref, methodName, body),
  fc.tuple(fc.constant(KIND.msgs), ref, ref, methodName, fc.array(body, { minLength: 1, maxLength: 3 })),
)

/** Every (container, key) slot of a value, depth first. */
function slots(x: unknown, out: [Record<string | number, unknown>, string | number][] = []): typeof out {
  if (x && typeof x === 'object') for (const k of Object.keys(x)) {
    out.push([x as Record<string, unknown>, Array.isArray(x) ? Number(k) : k])
    slots((x as Record<string, unknown>)[k], out)
  }
  return out
}

/** A valid value with one slot replaced, removed, or one element or key added. */
const mutated = (valid: fc.Arbitrary<unknown>) =>
  fc.tuple(valid, fc.nat(), fc.constantFrom('replace', 'remove', 'add'), odd).map(([x, pick, how, value]) => {
    const all = slots(x)
    if (all.length === 0) return value
    const [box, key] = all[pick % all.length]!
    if (how === 'replace') box[key] = value
    else if (how === 'remove') Array.isArray(box) ? box.splice(key as number, 1) : delete box[key]
    else if (Array.isArray(box)) box.push(value)
    else box.extra = value
    return x
  })

function agrees<S extends v.GenericSchema>(schema: S, accept: (x: unknown) => unknown, valid: fc.Arbitrary<unknown>) {
  fc.assert(
    fc.property(fc.oneof(valid, mutated(valid), fc.anything()), (x) => {
      const fast = accept(structuredClone(x))
      if (fast === undefined) return
      const slow = v.safeParse(schema, structuredClone(x))
      expect(slow.success, `the fast path accepted what the schema refuses: ${String(JSON.stringify(x))}`).toBe(true)
      expect(fast).toStrictEqual(slow.output)
    }),
    { numRuns: 3000 },
  )
  fc.assert(fc.property(valid, (x) => void expect(accept(x)).not.toBeUndefined()), { numRuns: 300 })
}

describe('fast paths agree with their schemas', () => {
  it('changes', () => agrees(WireChangeSchema, acceptWireChange, change.map(toWireChange)))
  it('log entries', () => agrees(WireEntrySchema, acceptWireEntry, entry))
  it('appends and acks', () => agrees(ReplSchema, acceptRepl, fc.oneof(append, ack)))
  it('writes', () => agrees(WriteSchema, acceptWrite, write))
  it('frame envelopes', () => agrees(v.union([...TUPLE_SCHEMAS]), acceptEnvelope, envelopeTuple))

  it('leaves other replication messages and any refusal to the schema', () => {
    expect(acceptRepl({ type: 'nack', domain: 1, epoch: 2 })).toBeUndefined()
    expect(acceptWrite({ vs: 'shop', key: 'k', change: [3] })).toBeUndefined()
    expect(v.safeParse(WriteSchema, { vs: 'shop', key: 'k', change: [3] }).success).toBe(false)
    // An error envelope is rare: the schema checks its body's every field.
    expect(acceptEnvelope([KIND.err, 0, 1, 7, { code: 'X', name: 'XError', message: 'bad' }])).toBeUndefined()
  })

  it('copies paths: a local caller may reuse its patch', () => {
    const wire = [1, [1, ['a', 0], 5]]
    const out = acceptWireChange(wire) as Extract<Change, { kind: 'patch' }>
    ;(wire[1] as unknown[][])[1]!.push('b')
    expect(out.patches[0]!.path).toEqual(['a', 0])
  })

  it('reads a stored log through the fast path or the schema alike', () => {
    const entries: LogEntry[] = [{ seq: 1, epoch: 0, vs: 'shop', key: 'k', change: { kind: 'patch', patches: [{ op: 'replace', path: ['f'], value: 1 }] } }]
    expect(decodeLog(encodeLog(entries))).toStrictEqual(entries)
  })
})
