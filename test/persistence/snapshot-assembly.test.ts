/**
 * A snapshot sent in parts: every part is a snapshot of its own objects, the receiver puts them
 * together whatever the order or repeats, and never mixes two different snapshots.
 */
import * as v from '../../src/util/schema.js'
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState, type IncomingSnapshot, type Snapshot } from '../../src/replication/domain-state.js'
import { SnapshotSchema } from '../../src/replication/messages.js'
import { SnapshotAssembly } from '../../src/persistence/snapshot-assembly.js'
import { encodeSnapshotParts, partSizes } from '../../src/persistence/snapshot-encoder.js'
import { decodeValue, encodeValue } from '../../src/wire/codec.js'
import { concatBytes as concat } from '../../src/util/bytes.js'

const A = 'a' as NodeId
const B = 'b' as NodeId
const now = () => Promise.resolve()

function domain(objects: number, seq0 = 0): DomainState {
  const d = new DomainState(7)
  let seq = seq0
  if (seq0 > 0) Object.assign(d, { lastSeq: seq0, logStart: seq0 })
  for (let i = 0; i < objects; i++) {
    d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: `k${i}`, change: { kind: 'put', value: { i, tags: ['a', 'b'] } } })
    if (i % 4 === 0) d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: `k${i}`, change: { kind: 'patch', patches: [{ op: 'replace', path: ['i'], value: i + 1000 }] } })
  }
  return d
}

/** Parts of `group` objects each (the first as large as the rest, unless `first` says otherwise). */
const parts = async (d: DomainState, group = 100, first = group): Promise<Snapshot[]> => (await encodeSnapshotParts(d, now, group, first)).map((p) => decodeValue(p) as Snapshot)

describe('snapshot parts', () => {
  it('each carry the seq and epoch of the whole, and together its objects; an empty domain is one part', async () => {
    const d = domain(250)
    const got = await parts(d)
    expect(got.map((p) => [p.seq, p.epoch, p.objects.length])).toEqual([
      [d.lastSeq, 2, 100],
      [d.lastSeq, 2, 100],
      [d.lastSeq, 2, 50],
    ])
    expect(got.flatMap((p) => p.objects)).toEqual(d.snapshot().objects)
    expect(await parts(new DomainState(7))).toEqual([{ seq: 0, epoch: 0, objects: [] }])
  })

  it('start small and double up to the group, so a cold receiver is never handed a full part first', async () => {
    expect(partSizes(250, 100, 16)).toEqual([16, 32, 64, 100, 38])
    expect(partSizes(1560)).toEqual([16, 32, 64, ...Array(11).fill(128), 40])
    expect(partSizes(10, 100, 16)).toEqual([10])
    expect(partSizes(0)).toEqual([0])
    const d = domain(250)
    const got = await parts(d, 100, 16)
    expect(got.map((p) => p.objects.length)).toEqual([16, 32, 64, 100, 38])
    expect(got.flatMap((p) => p.objects)).toEqual(d.snapshot().objects)
    const asm = new SnapshotAssembly(7)
    got.forEach((p, i) => i < got.length - 1 && asm.add(A, p, i, got.length))
    const whole = asm.add(A, got.at(-1)!, got.length - 1, got.length)!
    expect(new Map(whole.objects)).toEqual(new Map(DomainState.fromSnapshot(7, d.snapshot()).objects))
  })

  it('are put together in any order, with repeats, into the state the whole snapshot gives', async () => {
    const d = domain(250)
    const [p0, p1, p2] = await parts(d)
    const asm = new SnapshotAssembly(7)
    expect(asm.add(A, p2!, 2, 3)).toBeUndefined()
    expect(asm.add(A, p0!, 0, 3)).toBeUndefined()
    expect(asm.add(A, p2!, 2, 3)).toBeUndefined() // a resend of the whole snapshot began
    expect(asm.missing).toBe(1)
    const whole = asm.add(A, p1!, 1, 3)!
    const expected = DomainState.fromSnapshot(7, d.snapshot())
    expect(new Map(whole.objects)).toEqual(new Map(expected.objects))
    expect([whole.lastSeq, whole.lastEpoch, whole.logStart, whole.logStartEpoch]).toEqual([d.lastSeq, 2, d.lastSeq, 2])
    expect(Object.isFrozen(whole.get('v', 'k0')!.value)).toBe(true)
    expect(asm.missing).toBe(0)
  })

  it('of another snapshot, or from another sender, start over instead of mixing', async () => {
    const older = await parts(domain(150))
    const newer = await parts(domain(150, 1000))
    const asm = new SnapshotAssembly(7)
    asm.add(A, older[0]!, 0, 2)
    expect(asm.add(A, newer[1]!, 1, 2)).toBeUndefined() // another seq: older's part 0 is dropped
    expect(asm.add(B, newer[0]!, 0, 2)).toBeUndefined() // another sender
    const whole = asm.add(B, newer[1]!, 1, 2)!
    expect(whole.lastSeq).toBe(newer[0]!.seq)
    expect(whole.objects.size).toBe(150)
  })

  it('a whole snapshot is taken at once and drops a half-received one', async () => {
    const asm = new SnapshotAssembly(7)
    const d = domain(150)
    asm.add(A, (await parts(d))[0]!, 0, 2)
    expect(asm.add(A, d.snapshot(), 0, 1)!.objects.size).toBe(150)
    expect(asm.missing).toBe(0)
  })

  it('arrive over the wire only with an index below their count', async () => {
    const snapshot = encodeValue((await parts(domain(10)))[0])
    expect(v.safeParse(SnapshotSchema, { domain: 7, epoch: 2, snapshot, part: [1, 3] }).success).toBe(true)
    const bad = v.safeParse(SnapshotSchema, { domain: 7, epoch: 2, snapshot, part: [3, 3] })
    expect(bad.success).toBe(false)
    expect(bad.issues?.[0]?.message).toBe('snapshot part index must be below the part count')
    expect(v.safeParse(SnapshotSchema, { domain: 7, epoch: 2, snapshot, part: [0, 0] }).success).toBe(false)
  })

  it('received over the wire, keep the bytes of their objects as they came, and read back the same', () => {
    // version 5 written as a uint32 (0xce): valid msgpack that msgpackr never writes, so a
    // re-encoded object would come out different.
    const odd = concat([Uint8Array.of(0x94), encodeValue('v\u0000k1'), encodeValue({ n: 1 }), Uint8Array.of(0xce, 0, 0, 0, 5), encodeValue(1)])
    const plain = encodeValue(['v\u0000k2', 'two', 2, 1, [[['a'], 2]]])
    const snap = received([odd, plain])
    const state = DomainState.fromSnapshot(7, snap)
    const bytes = (c: unknown) => [...(c as Uint8Array)]
    expect(state.objects.capture().filter((c) => c instanceof Uint8Array).map(bytes)).toEqual([odd, plain].map(bytes))
    expect(state.get('v', 'k1')).toMatchObject({ value: { n: 1 }, version: 5 })
    expect(state.get('v', 'k2')).toMatchObject({ value: 'two', version: 2 })
  })

  it('whose elements are not records as lookups need them are taken by encoding them anew', () => {
    // The pair form of snapshots stored before protocol 3.
    const pair = encodeValue(['v\u0000k1', { value: 1, version: 1, base: 1, paths: [[['x'], 1]] }])
    // A non-ASCII id behind a longer string header than msgpackr writes (str8 for 4 bytes).
    const longHeader = concat([Uint8Array.of(0x94, 0xd9, 4), new TextEncoder().encode('v\u0000é'), encodeValue(2), encodeValue(2), encodeValue(1)])
    const state = DomainState.fromSnapshot(7, received([pair, longHeader]))
    const records = state.objects.capture().map((c) => [...(c as Uint8Array)])
    expect(records).toEqual([['v\u0000k1', 1, 1, 1, [[['x'], 1]]], ['v\u0000é', 2, 2, 1]].map((o) => [...encodeValue(o)]))
    expect(state.get('v', 'k1')).toMatchObject({ value: 1, version: 1 })
    expect(state.get('v', 'é')).toMatchObject({ value: 2, version: 2 })
    // Alone, each passes the byte scan (snapshot-scan.ts) and is still encoded anew.
    for (const [element, id, record] of [
      [longHeader, 'é', ['v\u0000é', 2, 2, 1]],
      [pair, 'k1', ['v\u0000k1', 1, 1, 1, [[['x'], 1]]]],
    ] as const) {
      const scanned = received([element])
      expect('scanned' in scanned).toBe(true)
      const alone = DomainState.fromSnapshot(7, scanned)
      expect(alone.objects.capture().map((c) => [...(c as Uint8Array)])).toEqual([[...encodeValue(record)]])
      expect(alone.get('v', id)).toMatchObject({ version: record[2] })
    }
  })
})

/** A snapshot of these [id, object] elements, as the wire schema hands it to a replica. */
function received(elements: Uint8Array[]): IncomingSnapshot {
  const head = encodeValue({ seq: 9, epoch: 2, objects: [] })
  const bytes = concat([head.subarray(0, head.length - 1), Uint8Array.of(0x90 | elements.length), ...elements])
  return v.parse(SnapshotSchema, { domain: 7, epoch: 2, snapshot: bytes }).snapshot
}
