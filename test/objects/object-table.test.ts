/**
 * The object table keeps few objects decoded and the rest encoded: whatever mix of writes, reads,
 * deletes and snapshot intake, it answers exactly as a plain Map would, snapshots taken earlier
 * never change, and dead records are reclaimed.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Arena } from '../../src/objects/arena.js'
import { ObjectTable, type Captured } from '../../src/objects/object-table.js'
import { decodeRecord, encodeRecord, recordHasId, recordIdHash, toRecord } from '../../src/objects/object-record.js'
import { encodeValue } from '../../src/wire/codec.js'
import { hashId, RecordIndex } from '../../src/objects/record-index.js'
import { listOf, type StoredObject } from '../../src/objects/objects.js'

const obj = (n: number, paths = false): StoredObject => ({
  value: { n, name: `object ${n}`, tags: ['a', 'ü', n % 3 === 0 ? null : true] },
  version: n,
  base: paths ? n - 1 : n,
  ...(paths ? { paths: listOf([{ path: ['name'], version: n }]) } : {}),
})

const contents = (t: Iterable<[string, StoredObject]>) => new Map([...t])
const read = (c: Captured): [string, StoredObject] => (c instanceof Uint8Array ? decodeRecord(c) : [c[0], c[1]])

/**
 * Ids the index must tell apart: ASCII; accented, whose bytes as UTF-8 are the UTF-16 units of
 * another id ('é' is C3 A9, 'Ã©' is the units C3 A9); outside the BMP; long ones (msgpack's
 * three string headers). Lone surrogates never get here: the guard refuses them.
 */
const IDS = ['v\u0000k0', 'v\u0000k1', 'v\u0000é', 'v\u0000Ã©', 'v\u0000😀', 'v\u0000😀x', 'v\u0000k2', 'x'.repeat(40), 'x'.repeat(300), 'y'.repeat(70_000), '', 'v\u0000k12']

/** What a record of n bytes costs in an arena: its bytes and its length as a LEB128 varint. */
const cost = (n: number) => n + (n < 2 ** 7 ? 1 : n < 2 ** 14 ? 2 : n < 2 ** 21 ? 3 : 4)

describe('Arena', () => {
  it('gives back every record byte for byte, small ones and ones larger than a chunk', () => {
    const a = new Arena()
    const sizes = [0, 1, 5, 127, 128, 300, 5000, 16_383, 16_384, 70_000, 2_000_000, 2_097_152, 17]
    const records = sizes.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff))
    const locs = records.map((r) => a.add(r))
    records.forEach((r, i) => expect(Buffer.from(a.view(locs[i]!)).equals(Buffer.from(r))).toBe(true))
    expect(a.bytes).toBe(sizes.reduce((n, size) => n + cost(size), 0))
    expect(records.map((r) => Arena.cost(r))).toEqual(sizes.map(cost))
    expect(Arena.cost(new Uint8Array(100))).toBe(101)
    expect(() => a.view(99 * (1 << 20))).toThrow(RangeError)
  })
})

describe('Arena.pack', () => {
  it('holds the records byte for byte at the locations it returns, in chunks of just their size', () => {
    const records = [0, 1, 130, 130, 16_000, 400, 70_000, 9, ...Array(300).fill(131)].map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff))
    const { arena, locations } = Arena.pack(records)
    records.forEach((r, i) => expect(Buffer.from(arena.view(locations[i]!)).equals(Buffer.from(r))).toBe(true))
    expect(arena.bytes).toBe(records.reduce((n, r) => n + cost(r.byteLength), 0))
    expect(arena.allocated).toBe(arena.bytes)
    // A grown arena holding the same records keeps free tails.
    const grown = new Arena()
    for (const r of records) grown.add(r)
    expect(grown.allocated).toBeGreaterThan(grown.bytes)
    // Adding after packing starts a new chunk and leaves the packed records as they were.
    const more = arena.add(Uint8Array.of(1, 2, 3))
    expect([...arena.view(more)]).toEqual([1, 2, 3])
    expect(Buffer.from(arena.view(locations[6]!)).equals(Buffer.from(records[6]!))).toBe(true)
  })

  it('a compacted table keeps no free tail and answers as before', () => {
    const t = new ObjectTable(4)
    for (let i = 0; i < 3000; i++) t.set(`k${i}`, obj(i))
    for (let i = 0; i < 3000; i += 3) t.delete(`k${i}`)
    // Rewrites make dead records until they outweigh the live ones, which compacts the arena.
    for (let round = 0; round < 4; round++) for (let i = 1; i < 3000; i += 3) t.set(`k${i}`, obj(i + round, true))
    for (let i = 0; i < 3000; i++) expect(t.get(`k${i}`)).toEqual(i % 3 === 0 ? undefined : i % 3 === 1 ? obj(i + 3, true) : obj(i))
    expect(t.size).toBe(2000)
    // About 7,000 records were written; after compacting, at most the live ones and as many dead.
    const record = cost(encodeRecord('k1000', obj(1000, true)).byteLength)
    expect(t.encodedBytes).toBeLessThan(5000 * record)
  })
})

describe('RecordIndex', () => {
  it('tightens a quiet table to about 0.7 full, and finds every id and takes new ones after', () => {
    const idx = new RecordIndex((loc, id) => id === `id${loc}`, (loc) => hashId(`id${loc}`))
    for (let i = 0; i < 1560; i++) idx.set(`id${i}`, i)
    for (let i = 0; i < 1560; i += 5) idx.delete(`id${i}`)
    const grown = idx.capacity
    idx.tighten()
    expect(idx.capacity).toBeLessThan(grown)
    expect(idx.capacity).toBe(Math.ceil(idx.size / 0.7))
    for (let i = 0; i < 1560; i++) expect(idx.get(`id${i}`)).toBe(i % 5 === 0 ? undefined : i)
    const tight = idx.capacity
    idx.tighten() // nothing to gain: it stays
    expect(idx.capacity).toBe(tight)
    for (let i = 1560; i < 3000; i++) idx.set(`id${i}`, i)
    for (let i = 0; i < 3000; i++) expect(idx.get(`id${i}`)).toBe(i % 5 === 0 && i < 1560 ? undefined : i)
    expect(idx.size).toBe(3000 - 312)
  })

  it('finds every id among colliding hashes, after deletes and growth', () => {
    const ids = new Map<number, string>()
    // Every id gets the same hash: lookups must compare the ids themselves.
    const idx = new RecordIndex((loc, id) => ids.get(loc) === id, () => 7)
    for (let i = 0; i < 200; i++) {
      ids.set(i * 10, `id${i}`)
      idx.set(`id${i}`, i * 10, 7)
    }
    for (let i = 0; i < 200; i += 2) expect(idx.delete(`id${i}`, 7)).toBe(i * 10)
    for (let i = 200; i < 300; i++) {
      ids.set(i * 10, `id${i}`)
      idx.set(`id${i}`, i * 10, 7)
    }
    expect(idx.size).toBe(200)
    for (let i = 0; i < 300; i++) expect(idx.get(`id${i}`, 7)).toBe(i % 2 === 0 && i < 200 ? undefined : i * 10)
    expect([...idx.locations()].sort((a, b) => a - b)).toEqual([...Array(300).keys()].filter((i) => i % 2 === 1 || i >= 200).map((i) => i * 10))
    expect(hashId('a')).not.toBe(hashId('b'))
  })
})

describe('recordHasId', () => {
  it('tells each id from every other, whatever their UTF-16 and UTF-8 lengths', () => {
    for (const a of IDS) for (const b of IDS) expect(recordHasId(encodeValue([a, 1, 1, 1]), b)).toBe(a === b)
  })

  it('hashes the id in a record as hashId hashes the string (a rebuilt index finds them where lookups look)', () => {
    for (const a of IDS) expect(recordIdHash(encodeValue([a, 1, 1, 1]))).toBe(hashId(a))
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (id) => recordIdHash(encodeValue([id, null, 1, 0])) === hashId(id)))
  })
})

describe('ObjectTable', () => {
  it('answers like a Map for any mix of writes, reads, deletes and snapshot intake', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 11 }), n: fc.integer({ min: 1, max: 1000 }), paths: fc.boolean() }),
      fc.record({ kind: fc.constant('encoded' as const), id: fc.integer({ min: 0, max: 11 }), n: fc.integer({ min: 1, max: 1000 }) }),
      fc.record({ kind: fc.constant('get' as const), id: fc.integer({ min: 0, max: 11 }) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 11 }) }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.array(op, { maxLength: 80 }), (hot, ops) => {
        const t = new ObjectTable(hot)
        const model = new Map<string, StoredObject>()
        for (const o of ops) {
          const id = IDS[o.id]!
          if (o.kind === 'set') {
            t.set(id, obj(o.n, o.paths))
            model.set(id, obj(o.n, o.paths))
          } else if (o.kind === 'encoded') {
            t.setEncoded(id, toRecord(id, obj(o.n)))
            model.set(id, obj(o.n))
          } else if (o.kind === 'get') expect(t.get(id)).toEqual(model.get(id))
          else expect(t.delete(id)).toBe(model.delete(id))
          expect(t.size).toBe(model.size)
        }
        expect(contents(t)).toEqual(model)
      }),
      { numRuns: 300 },
    )
  })

  it('hands out objects read back from their records frozen, as Immer would', () => {
    const t = new ObjectTable(0)
    t.set('a', obj(1))
    const read = t.get('a')!
    expect(read).toEqual(obj(1))
    expect(Object.isFrozen(read) && Object.isFrozen(read.value) && Object.isFrozen((read.value as { tags: unknown[] }).tags)).toBe(true)
  })

  it('keeps a capture as it was through later writes, deletes and compactions', () => {
    const t = new ObjectTable(2)
    for (let i = 0; i < 500; i++) t.set(`k${i}`, obj(i))
    const before = t.capture()
    const expected = new Map(before.map(read))
    const oneRound = t.encodedBytes
    // Rewriting everything over and over leaves mostly dead records: the arena is compacted.
    for (let round = 0; round < 10; round++) for (let i = 0; i < 500; i++) t.set(`k${i}`, obj(i + 1000 * (round + 1), true))
    expect(t.encodedBytes).toBeLessThan(4 * oneRound)
    for (let i = 0; i < 250; i++) t.delete(`k${i}`)
    expect(new Map(before.map(read))).toEqual(expected)
    expect(expected.get('k7')).toEqual(obj(7))
    expect(t.size).toBe(250)
    expect(t.get('k7')).toBeUndefined()
    expect(t.get('k300')).toEqual(obj(10300, true))
  })

  it('keeps few objects decoded: the rest are records, which a capture takes as they are', () => {
    const t = new ObjectTable(3)
    for (let i = 0; i < 10; i++) t.set(`k${i}`, obj(i))
    const decoded = () => t.capture().filter((c) => !(c instanceof Uint8Array)).map((c) => (c as readonly [string, StoredObject])[0])
    expect(decoded()).toEqual(['k7', 'k8', 'k9'])
    const records = t.capture().filter((c): c is Uint8Array => c instanceof Uint8Array)
    expect(records.map(read).sort((a, b) => a[1].version - b[1].version)).toEqual([...Array(7).keys()].map((i) => [`k${i}`, obj(i)]))
    // A read brings an object back among the decoded ones, and pushes the oldest out.
    t.get('k0')
    expect(decoded()).toEqual(['k8', 'k9', 'k0'])
    expect(t.capture()).toHaveLength(10)
  })
})
