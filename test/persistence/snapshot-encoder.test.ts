/** A snapshot encoded in groups is byte for byte the one-piece encoding, taken at the moment of the call. */
import { describe, expect, it } from 'vitest'
import { DomainState } from '../../src/replication/domain-state.js'
import { encodeSnapshot, encodeSnapshotNow } from '../../src/persistence/snapshot-encoder.js'
import { decodeValue, encodeValue } from '../../src/wire/codec.js'

function domain(objects: number): DomainState {
  const d = new DomainState(0)
  let seq = 0
  for (let i = 0; i < objects; i++) {
    d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: `k${i}`, change: { kind: 'put', value: { i, name: `object ${i}`, tags: ['a', 'b'] } } })
    if (i % 3 === 0) d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: `k${i}`, change: { kind: 'patch', patches: [{ op: 'replace', path: ['name'], value: 'x'.repeat(i % 40) }] } })
  }
  return d
}

const now = () => Promise.resolve()

describe('encodeSnapshot', () => {
  it.each([0, 1, 15, 16, 17, 128, 129, 1000, 70_000])('gives the same bytes as one encode for %i objects', async (n) => {
    const d = domain(n)
    const pieces = await encodeSnapshot(d, now, 128)
    expect(Buffer.from(pieces).equals(Buffer.from(encodeValue(d.snapshot())))).toBe(true)
  })

  it.each([0, 1, 200])('at once (encodeSnapshotNow), cooled or not, gives the same bytes as one encode for %i objects', (n) => {
    const d = domain(n)
    expect(Buffer.from(encodeSnapshotNow(d)).equals(Buffer.from(encodeValue(d.snapshot())))).toBe(true)
    const before = decodeValue(encodeSnapshotNow(d)) as { objects: unknown[][] }
    d.cool() // every object a record now: copied, not encoded (in the index's order)
    const bytes = encodeSnapshotNow(d)
    expect(Buffer.from(bytes).equals(Buffer.from(encodeValue(d.snapshot())))).toBe(true)
    const after = decodeValue(bytes) as { objects: unknown[][] }
    const byId = (o: { objects: unknown[][] }) => [...o.objects].sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    expect(byId(after)).toEqual(byId(before))
  })

  it('pauses between groups and ignores writes made meanwhile', async () => {
    const d = domain(300)
    const expected = encodeValue(d.snapshot())
    let pauses = 0
    let seq = d.lastSeq
    const bytes = await encodeSnapshot(d, async () => {
      pauses++
      d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: 'k1', change: { kind: 'put', value: 'changed' } })
      d.apply({ seq: ++seq, epoch: 2, vs: 'v', key: `new${pauses}`, change: { kind: 'put', value: 1 } })
    }, 100)
    expect(pauses).toBe(2)
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true)
    expect((decodeValue(bytes) as { objects: unknown[] }).objects).toHaveLength(300)
  })
})
