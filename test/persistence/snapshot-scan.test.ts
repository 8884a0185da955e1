/**
 * A snapshot checked as bytes (snapshot-scan.ts) is taken in exactly as the decoded one would be,
 * and whatever the scan does not accept still goes through the schema, which names what is wrong.
 */
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import * as v from '../../src/util/schema.js'
import { describe, expect, it } from 'vitest'
import { DomainState, type Snapshot } from '../../src/replication/domain-state.js'
import { SnapshotSchema } from '../../src/replication/messages.js'
import { scanSnapshot } from '../../src/persistence/snapshot-scan.js'
import { encodeValue } from '../../src/wire/codec.js'
import { snapshotElements } from '../../src/wire/msgpack-skip.js'

const seq = fc.oneof(fc.nat(200), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
const path = fc.array(fc.oneof(fc.string(), fc.nat()), { maxLength: 3 })
const snapshotObject = fc.record(
  {
    value: fc.jsonValue(),
    version: seq,
    base: seq,
    paths: fc.array(fc.oneof(fc.tuple(path, seq), fc.tuple(fc.string(), path, seq)), { maxLength: 3 }),
  },
  { requiredKeys: ['value', 'version', 'base'] },
)
/** Records as written since protocol 3, and the pairs of snapshots stored before it. */
const element = fc.oneof(
  fc.tuple(fc.string({ unit: 'binary' }), snapshotObject).map(([id, o]) => (o.paths ? [id, o.value, o.version, o.base, o.paths] : [id, o.value, o.version, o.base])),
  fc.tuple(fc.string({ unit: 'binary' }), snapshotObject),
)
const snapshot = fc.record({ seq, epoch: seq, objects: fc.uniqueArray(element, { selector: ([id]) => id, maxLength: 20 }) })

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
const wire = (snap: unknown) => v.safeParse(SnapshotSchema, { domain: 1, epoch: 1, snapshot: encodeValue(snap) })
const contents = (d: DomainState) => new Map(d.objects)

describe('a snapshot checked as bytes', () => {
  it('names every object by its id and keeps its bytes as they came, and a state takes it in as it takes the decoded one', () => {
    fc.assert(
      fc.property(snapshot, (snap) => {
        const bytes = encodeValue(snap)
        const scanned = scanSnapshot(bytes)!
        expect(scanned).toBeDefined()
        expect([scanned.seq, scanned.epoch]).toEqual([snap.seq, snap.epoch])
        expect(scanned.scanned.map(([id]) => id)).toEqual(snap.objects.map(([id]) => id))
        expect(scanned.scanned.map(([, r]) => [...r])).toEqual(snapshotElements(bytes)!.map((r) => [...r]))
        const fromBytes = DomainState.fromSnapshot(1, scanned)
        const decoded = DomainState.fromSnapshot(1, snap as Snapshot)
        expect(contents(fromBytes)).toEqual(contents(decoded))
        expect(fromBytes.lastSeq).toBe(decoded.lastSeq)
        const parsed = wire(snap)
        expect(parsed.success && 'scanned' in parsed.output.snapshot).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('leaves to the schema what it does not follow, and the schema still refuses what is wrong', () => {
    const ok = { value: { a: 1 }, version: 3, base: 1 }
    const variants: [string, unknown, boolean][] = [
      ['a negative version', { seq: 1, epoch: 1, objects: [['k', { ...ok, version: -1 }]] }, false],
      ['a fractional base', { seq: 1, epoch: 1, objects: [['k', { ...ok, base: 1.5 }]] }, false],
      ['no base', { seq: 1, epoch: 1, objects: [['k', { value: 1, version: 3 }]] }, false],
      ['a path that is not a list', { seq: 1, epoch: 1, objects: [['k', { ...ok, paths: [['a', 2]] }]] }, false],
      ['paths as nil', { seq: 1, epoch: 1, objects: [['k', { ...ok, paths: null }]] }, false],
      ['an id that is not a string', { seq: 1, epoch: 1, objects: [[7, ok]] }, false],
      ['a pair with an extra item', { seq: 1, epoch: 1, objects: [['k', ok, 1]] }, false],
      ['a record with a negative version', { seq: 1, epoch: 1, objects: [['k', 1, -1, 1]] }, false],
      ['a record without its base', { seq: 1, epoch: 1, objects: [['k', 1, 1]] }, false],
      ['a record with paths as nil', { seq: 1, epoch: 1, objects: [['k', 1, 2, 1, null]] }, false],
      ['a record with a path that is not a list', { seq: 1, epoch: 1, objects: [['k', 1, 2, 1, [['a', 2]]]] }, false],
      ['a record with an item past its paths', { seq: 1, epoch: 1, objects: [['k', 1, 2, 1, [], 'x']] }, false],
      // An extension other than undefined is no stored value (the guard lets only plain data in):
      // the scan declines it, and the decoder refuses it too.
      ['a record with a date in its value', { seq: 1, epoch: 1, objects: [['k', new Date(0), 2, 1]] }, false],
      ['no seq', { epoch: 1, objects: [] }, false],
      ['a negative epoch', { seq: 1, epoch: -2, objects: [] }, false],
      ['a date in a value', { seq: 1, epoch: 1, objects: [['k', { ...ok, value: new Date(0) }]] }, false],
    ]
    for (const [what, snap, valid] of variants) {
      const bytes = msgpackr.pack(snap)
      expect(scanSnapshot(bytes), what).toBeUndefined()
      expect(v.safeParse(SnapshotSchema, { domain: 1, epoch: 1, snapshot: bytes }).success, what).toBe(valid)
    }
  })

  it('ignores keys the schema ignores, and a key named twice counts as the decoder reads it', () => {
    const extra = { seq: 2, epoch: 1, objects: [['k', { value: 1, version: 2, base: 2, note: 'x' }]], more: [1, 2] }
    expect(scanSnapshot(encodeValue(extra))!.scanned.map(([id]) => id)).toEqual(['k'])
    // Hand-made: { seq: 1, epoch: 1, objects: [], seq: 9 }; msgpackr keeps the last seq.
    const twice = Uint8Array.of(0x84, 0xa3, 0x73, 0x65, 0x71, 0x01, 0xa5, 0x65, 0x70, 0x6f, 0x63, 0x68, 0x01, 0xa7, 0x6f, 0x62, 0x6a, 0x65, 0x63, 0x74, 0x73, 0x90, 0xa3, 0x73, 0x65, 0x71, 0x09)
    expect(scanSnapshot(twice)!.seq).toBe(9)
  })
})
