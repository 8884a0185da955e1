/**
 * The SDK's msgpack (src/wire/msgpack.ts) against msgpackr, which the SDK used before:
 * stored values are the same bytes both ways (what a node stored before reads the same, and the
 * layouts written by hand stay true), and frames of every envelope kind cross between the two
 * in both directions (a node built with msgpackr and one with this codec read each other's frames).
 */
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { parseAddress } from '../../src/routing/address.js'
import { decodeFrame, decodeValue, encodeFrame, encodeValue } from '../../src/wire/codec.js'
import type { Envelope } from '../../src/wire/envelope.js'
import { decode, MsgpackError } from '../../src/wire/msgpack.js'

/** msgpackr as the SDK configured it: stored values, and frames. */
const oldValues = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
const oldFrames = new Packr({ useRecords: true, mapsAsObjects: true, variableMapSize: true })

/**
 * Byte strings as plain Uint8Arrays (msgpackr gives Node Buffers), -0 as 0 (msgpack has no -0) and
 * keys `__proto__` as `__proto_` (both decoders rename them), for comparing.
 */
function plain(x: unknown): unknown {
  if (Object.is(x, -0)) return 0
  if (x instanceof Uint8Array) return Uint8Array.from(x)
  if (Array.isArray(x)) return x.map(plain)
  if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k === '__proto__' ? '__proto_' : k, plain(v)]))
  return x
}

/** Lengths on each side of msgpack's header boundaries, in characters or items (65,535 and up: a test of their own). */
const SIZES = fc.constantFrom(15, 16, 31, 32, 63, 64, 255, 256)
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // astral characters and lone surrogates
  fc.string({ unit: 'grapheme', maxLength: 120 }),
  SIZES.map((n) => 'x'.repeat(n)),
  SIZES.map((n) => 'é'.repeat(n)),
  fc.constantFrom('__proto__', 'constructor', ''),
)
const leaf = fc.oneof(
  fc.integer(),
  fc.integer({ min: 0, max: 0x80 }),
  fc.constantFrom(0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, -0),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  text,
  fc.uint8Array({ maxLength: 40 }),
  SIZES.map((n) => new Uint8Array(n).fill(7)),
)
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 20 }), fc.dictionary(text, tie('v'), { maxKeys: 20 })),
})).v

/** Bodies' values: smaller than `value`, as a frame holds many. */
const small = fc.oneof(fc.jsonValue({ maxDepth: 2 }), leaf)

const address = fc.constantFrom('c/n1/store', 'c/n2/store', 'c/*/store@shop', 'c/n3/log').map(parseAddress)
const id = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const method = fc.constantFrom('put', 'repl', 'get', 'x'.repeat(64))
/** Bodies as the SDK's messages look: objects of a few shapes, repeated (records), and anything. */
const body = fc.oneof(
  fc.record({ type: fc.constant('append'), domain: fc.nat(65536), epoch: fc.nat(), head: fc.nat(), commit: fc.nat(), entries: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), text, fc.record({ op: fc.constantFrom('add', 'replace'), path: fc.array(text, { maxLength: 3 }), value: small })), { maxLength: 5 }) }),
  fc.record({ type: fc.constant('ack'), domain: fc.nat(65536), epoch: fc.nat(), upTo: fc.nat() }),
  small,
)
const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ t: fc.constant('req' as const), from: address, to: address, id, m: method, b: body }),
  fc.record({ t: fc.constant('res' as const), from: address, to: address, id, b: body }),
  fc.record({ t: fc.constant('err' as const), from: address, to: address, id, e: fc.record({ code: fc.string({ maxLength: 64 }), name: fc.string({ maxLength: 128 }), message: fc.string({ maxLength: 200 }), details: fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !['__proto__', 'prototype', 'constructor'].includes(k)), small, { maxKeys: 4 }) }, { requiredKeys: ['code', 'name', 'message'] }) }),
  fc.record({ t: fc.constant('msg' as const), from: address, to: address, m: method, b: body }),
  fc.record({ t: fc.constant('msgs' as const), from: address, to: address, m: method, bs: fc.array(body, { minLength: 1, maxLength: 6 }) }),
)
const link = fc.constantFrom(undefined, { clusterId: 'c', self: 'n1', peer: 'n2' })
const reversed = (l: { clusterId: string; self: string; peer: string } | undefined) => l && { clusterId: l.clusterId, self: l.peer, peer: l.self }

describe('msgpack, against msgpackr', { timeout: 120_000 }, () => {
  it('writes every stored value as msgpackr wrote it, byte for byte, and reads it back as msgpackr does', () => {
    fc.assert(
      fc.property(value, (x) => {
        const bytes = encodeValue(x)
        const old = oldValues.pack(x)
        expect(same(bytes, old)).toBe(true)
        expect(plain(decodeValue(old))).toEqual(plain(oldValues.unpack(old)))
      }),
      { numRuns: 500 },
    )
  })

  it('writes and reads 32-bit lengths and counts as msgpackr does', () => {
    for (const n of [65_535, 65_536]) {
      for (const x of ['x'.repeat(n), 'é'.repeat(n), '😀'.repeat(n / 2), new Uint8Array(n), Array(n).fill(1), Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))]) {
        const bytes = encodeValue(x)
        expect(same(bytes, oldValues.pack(x))).toBe(true)
        // Read back whole: it writes the same bytes again (a deep comparison of 65,536 items is slow).
        expect(same(encodeValue(decodeValue(bytes)), bytes)).toBe(true)
      }
    }
  })

  it('reads any plain msgpack msgpackr writes as msgpackr reads it, records included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), value), fc.boolean(), (x, records) => {
        const packr = records ? oldFrames : oldValues
        const bytes = packr.pack(x)
        expect(plain(decode(bytes))).toEqual(plain(packr.unpack(bytes)))
      }),
      { numRuns: 500 },
    )
  })

  it('carries frames of every envelope kind both ways between the old encoding and the new', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 8 }), link, (envs, ends) => {
        const ours = encodeFrame(envs, ends)
        // What an older node reads of this version's frame, and the same frame as an older node writes it.
        const raw = oldFrames.unpack(ours) as unknown[]
        expect(plain(decode(ours))).toEqual(plain(raw))
        const theirs = oldFrames.pack(raw)
        const a = decodeFrame(ours, reversed(ends))
        const b = decodeFrame(theirs, reversed(ends))
        expect(a.ok).toBe(true)
        expect(plain(b)).toEqual(plain(a))
        if (a.ok) expect(plain(a.envelopes)).toEqual(plain(envs))
      }),
      { numRuns: 200 },
    )
  })

  it('writes objects of more shapes than one frame has records for as plain maps, which msgpackr reads', () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ [`k${i % 90}`]: i, same: { a: i } }))
    const bytes = encodeFrame([{ t: 'msg', from: parseAddress('c/a/e'), to: parseAddress('c/b/e'), m: 'x', b: many }])
    expect((oldFrames.unpack(bytes) as unknown[])[2]).toEqual([3, 0, 1, 'x', many])
    const out = decodeFrame(bytes)
    expect(out.ok && out.envelopes[0]).toMatchObject({ b: many })
    // And msgpackr's own frames past 64 shapes, where it reuses record ids.
    const theirs = oldFrames.pack([3, ['c/a/e', 'c/b/e'], [3, 0, 1, 'x', many]])
    expect(decodeFrame(theirs)).toEqual(out)
  })

  it('refuses bytes that are no msgpack, or more than one value, with a named error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decode(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(MsgpackError)
        }
      }),
      { numRuns: 3000 },
    )
    expect(() => decode(Uint8Array.of(0x01, 0x02))).toThrow(/1 bytes after the value/)
    expect(() => decode(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff))).toThrow(MsgpackError) // a count the bytes cannot hold
    expect(() => decode(oldValues.pack(new Date(0)))).toThrow(/extension type 255/)
    expect(() => decode(Uint8Array.of(0x81, 0x80, 0x01))).toThrow(/map key at 1 is not a string/)
  })

  it('cannot reach a prototype through a key, in a map or a record', () => {
    for (const packr of [oldValues, oldFrames]) {
      const out = decode(packr.pack([JSON.parse('{"__proto__":{"polluted":1}}'), JSON.parse('{"__proto__":{"polluted":1}}')])) as object[]
      expect(out[0]).toEqual({ __proto_: { polluted: 1 } })
      expect(Object.getPrototypeOf(out[1])).toBe(Object.prototype)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    }
  })
})
