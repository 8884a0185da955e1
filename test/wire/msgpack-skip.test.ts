/**
 * The msgpack skipper against msgpackr itself (what the SDK wrote before its own codec, and the SDK's
 * own encoder writes the same bytes: msgpack.test.ts): for any value msgpackr writes, the skipper
 * ends exactly where the value does, and it never reads past the end of what it is given.
 */
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { MsgpackSkipError, skipValue, snapshotElements } from '../../src/wire/msgpack-skip.js'
import { encodeValue } from '../../src/wire/codec.js'
import { concatBytes } from '../../src/util/bytes.js'
const concat = (...parts: Uint8Array[]) => concatBytes(parts)
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })

// Every header width: small and large ints and floats, strings and binaries past 255 and 65,535
// bytes, arrays and maps past 15 and 65,535 entries (the latter through the generated sizes).
/** Lengths on each side of msgpack's header boundaries. */
const SIZES = fc.constantFrom(31, 32, 255, 256, 65_535, 65_536)
const leaf = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.double({ noNaN: true }),
  fc.float(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 300 }),
  SIZES.map((n) => 'x'.repeat(n)),
  fc.uint8Array({ maxLength: 300 }),
  SIZES.map((n) => new Uint8Array(n)),
)
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 20 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 20 })),
})).v

describe('skipValue', () => {
  it('ends where each of two values written back to back ends, for any values', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const first = packr.pack(a)
        const second = packr.pack(b)
        const both = new Uint8Array(first.length + second.length)
        both.set(first)
        both.set(second, first.length)
        expect(skipValue(both, 0)).toBe(first.length)
        expect(skipValue(both, first.length)).toBe(both.length)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses a value cut short, at any point, with a named error', () => {
    fc.assert(
      fc.property(value, fc.nat(), (a, at) => {
        const bytes = packr.pack(a)
        const cut = bytes.subarray(0, at % bytes.length)
        expect(() => skipValue(cut, 0)).toThrow(MsgpackSkipError)
      }),
      { numRuns: 300 },
    )
  })

  it('counts arrays and maps of 65,536 entries and more (32-bit counts)', () => {
    const big = encodeValue([Array(70_000).fill(1), Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))])
    expect(skipValue(big, 0)).toBe(big.length)
  })

  it('skips extension types, and refuses them when asked for plain data', () => {
    const dates = new Packr({ useRecords: false }).pack([new Date(0), new Date(1.5), { at: new Date(2 ** 40) }])
    expect(skipValue(dates, 0)).toBe(dates.length)
    expect(() => skipValue(dates, 0, true)).toThrow(/extension type/)
    // msgpackr's records begin with an extension (the structure's definition).
    expect(() => skipValue(new Packr({ useRecords: true }).pack([{ a: 1 }, { a: 2 }]), 0, true)).toThrow(/extension type/)
    expect(() => skipValue(Uint8Array.of(0xc1), 0)).toThrow(/starts no msgpack value/)
  })
})

describe('snapshotElements', () => {
  it('gives the bytes of each element of the objects array, whatever the other keys and their order', () => {
    const objects = [['a', { value: 1 }], ['b', { value: [1, 2] }]]
    const bytes = encodeValue({ epoch: 2, objects, seq: 9, more: { x: 'y' } })
    expect(snapshotElements(bytes)).toEqual(objects.map((o) => encodeValue(o)))
  })

  it('finds the objects key behind any string header', () => {
    const str8 = concat(Uint8Array.of(0x81, 0xd9, 7), new TextEncoder().encode('objects'), encodeValue([['a', 1]]))
    expect(snapshotElements(str8)?.map((b) => [...b])).toEqual([[...encodeValue(['a', 1])]])
  })

  it('is undefined for anything else: no map, no objects array, an extension anywhere', () => {
    expect(snapshotElements(encodeValue([1, 2]))).toBeUndefined()
    expect(snapshotElements(encodeValue({ seq: 1 }))).toBeUndefined()
    expect(snapshotElements(encodeValue({ objects: 'no' }))).toBeUndefined()
    expect(snapshotElements(packr.pack({ objects: [['a', new Date(0)]] }))).toBeUndefined()
    // Where the decoder would see another array than the first `objects`: two of them (it keeps
    // the last), or a key it turns into a string.
    const objectsKey = encodeValue('objects')
    const two = concat(Uint8Array.of(0x82), objectsKey, encodeValue([['a', 1]]), objectsKey, encodeValue([['b', 2]]))
    expect(snapshotElements(two)).toBeUndefined()
    expect(snapshotElements(concat(Uint8Array.of(0x82), encodeValue(1), encodeValue(2), objectsKey, encodeValue([])))).toBeUndefined()
    // A structure defined before the array could be referred to inside it.
    expect(snapshotElements(new Packr({ useRecords: true }).pack({ head: { a: 1 }, objects: [['a', { value: 1 }]] }))).toBeUndefined()
  })
})
