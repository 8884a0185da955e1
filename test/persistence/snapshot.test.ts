/** Snapshots keep per-path versions (for compare-and-set) across a round trip, in both formats. */
import { describe, expect, it } from 'vitest'
import { DomainState, type Snapshot } from '../../src/replication/domain-state.js'
import { SnapshotSchema } from '../../src/replication/messages.js'
import { versionAt } from '../../src/objects/objects.js'
import { encodeValue } from '../../src/wire/codec.js'
import * as v from '../../src/util/schema.js'

function patched(): DomainState {
  const d = new DomainState(3)
  d.apply({ seq: 1, epoch: 1, vs: 'v', key: 'k', change: { kind: 'put', value: { a: 0, b: { c: 0 } } } })
  d.apply({ seq: 2, epoch: 1, vs: 'v', key: 'k', change: { kind: 'patch', patches: [{ op: 'replace', path: ['a'], value: 1 }] } })
  d.apply({ seq: 3, epoch: 1, vs: 'v', key: 'k', change: { kind: 'patch', patches: [{ op: 'replace', path: ['b', 'c'], value: 2 }] } })
  return d
}

describe('domain snapshots', () => {
  it('restore the value and the version of every patched path', () => {
    const copy = DomainState.fromSnapshot(3, patched().snapshot())
    const obj = copy.get('v', 'k')!
    expect(obj.value).toEqual({ a: 1, b: { c: 2 } })
    expect([versionAt(obj, ['a']), versionAt(obj, ['b', 'c']), versionAt(obj, ['b']), versionAt(obj, [])]).toEqual([2, 3, 3, 3])
    expect(copy.lastSeq).toBe(3)
  })

  it('still read the older form, which carried each path as a JSON key too', () => {
    const old: Snapshot = { seq: 3, epoch: 1, objects: [['v\u0000k', { value: { a: 1, b: { c: 2 } }, version: 3, base: 1, paths: [['["a"]', ['a'], 2], ['["b","c"]', ['b', 'c'], 3]] }]] }
    const obj = DomainState.fromSnapshot(3, old).get('v', 'k')!
    expect([versionAt(obj, ['a']), versionAt(obj, ['b', 'c']), versionAt(obj, ['x'])]).toEqual([2, 3, 1])
  })

  it('arrive over the wire only with well-formed paths', () => {
    const good = { domain: 3, epoch: 1, snapshot: encodeValue(patched().snapshot()) }
    expect(v.safeParse(SnapshotSchema, good).success).toBe(true)
    const snap = patched().snapshot() as unknown as { objects: unknown[][] }
    expect(snap.objects[0]).toHaveLength(5) // [id, value, version, base, paths]
    snap.objects[0]![4] = [['a', 2]] // a path that is not a list
    const bad = v.safeParse(SnapshotSchema, { domain: 3, epoch: 1, snapshot: encodeValue(snap) })
    expect(bad.success).toBe(false)
  })
})
