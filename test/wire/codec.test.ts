import fc from 'fast-check'
import { pack } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { parseAddress } from '../../src/routing/address.js'
import type { Envelope } from '../../src/wire/envelope.js'
import { AddressCache } from '../../src/wire/address-cache.js'
import { decodeFrame, decodeValue, encodeFrame, encodeValue, releaseEncoderBuffer } from '../../src/wire/codec.js'

const from = parseAddress('c/n1/store')
const to = parseAddress('c/*/store@shop')

describe('codec', () => {
  it('round-trips every envelope type', () => {
    const envs: Envelope[] = [
      { t: 'req', id: 1, from, to, m: 'put', b: { key: 'k', value: { deep: [1, 'two', null, true, { x: 1.5 }] } } },
      { t: 'res', id: 1, from, to: from, b: { seq: 9 } },
      { t: 'err', id: 2, from, to: from, e: { code: 'X', name: 'XError', message: 'bad', details: { a: 1 } } },
      { t: 'msg', from, to, m: 'repl', b: new Uint8Array([1, 2, 3]) },
    ]
    const out = decodeFrame(encodeFrame(envs))
    expect(out.ok).toBe(true)
    if (!out.ok) return
    expect(out.envelopes.map((e) => e.t)).toEqual(['req', 'res', 'err', 'msg'])
    expect(out.envelopes[0]).toEqual(envs[0])
    expect(new Uint8Array((out.envelopes[3] as { b: Uint8Array }).b)).toEqual(new Uint8Array([1, 2, 3]))
  })

  it('writes addresses on either end of the link relative to it, and reads them back whole', () => {
    const a = parseAddress('cl/node-a/store')
    const b = parseAddress('cl/node-b/store@shop')
    const other = parseAddress('cl/node-c/store')
    const envs: Envelope[] = [{ t: 'msg', from: a, to: b, m: 'repl', b: 1 }, { t: 'msg', from: a, to: other, m: 'repl', b: 2 }]
    const bytes = encodeFrame(envs, { clusterId: 'cl', self: 'node-a', peer: 'node-b' })
    expect(bytes.byteLength).toBeLessThan(encodeFrame(envs).byteLength - 15)
    const out = decodeFrame(bytes, { clusterId: 'cl', self: 'node-b', peer: 'node-a' })
    expect(out).toEqual({ ok: true, envelopes: envs })
    // Without the link a relative address means nothing.
    expect(decodeFrame(bytes)).toMatchObject({ ok: false, reason: expect.stringMatching(/addresses/) })
  })

  it('gives a reason for each kind of bad frame', () => {
    const reason = (x: unknown) => {
      const r = decodeFrame(x instanceof Uint8Array ? x : pack(x))
      return r.ok ? 'ok' : r.reason
    }
    expect(reason(new Uint8Array(0))).toBe('empty frame')
    expect(reason(Uint8Array.of(0x92, 0x01))).toMatch(/undecodable/) // array of 2, cut after 1
    expect(reason(Uint8Array.of(0xc1))).toMatch(/undecodable: byte 0xc1 at 0 starts no msgpack value/)
    expect(reason(null)).toMatch(/not a frame/)
    expect(reason({ not: 'an array' })).toMatch(/not a frame/)
    expect(reason([])).toMatch(/not a frame/)
    expect(reason([2, ['c/a/e', 'c/b/e'], [3, 0, 1, 'x', 1]])).toMatch(/protocol version 2, expected 3/)
    expect(reason([3, ['c/a'], [3, 0, 0, 'x', 1]])).toMatch(/addresses: .*expected cluster/)
    expect(reason([3, ['c/a/e'], [9, 0, 0, 'x', 1]])).toMatch(/envelope 0: not an envelope/)
    expect(reason([3, ['c/a/e'], { t: 'msg' }])).toMatch(/envelope 0: not an envelope/)
    expect(reason([3, ['c/a/e'], [0, 0, 0, -1, 'x', 1]])).toMatch(/envelope 0 \(req\): 3: /)
    expect(reason([3, ['c/a/e'], [3, 0, 0, 'x', 1, 'extra']])).toMatch(/envelope 0 \(msg\)/)
    expect(reason([3, ['c/a/e'], [3, 0, 1, 'x', 1]])).toMatch(/envelope 0: address index out of range/)
  })

  it('decodes the same through an address cache, good frames and bad, and hands out one frozen object per address', () => {
    const link = { clusterId: 'cl', self: 'node-b', peer: 'node-a' }
    const cache = new AddressCache(4) // small, so it also starts over while the property runs
    const addr = fc.constantFrom<unknown>('~store', '.store@shop', 'cl/node-c/store', 'cl/*/store', 'c/a', '~', '~bad id', 'x'.repeat(513), `${'c'.repeat(128)}/${'n'.repeat(128)}/${'e'.repeat(128)}@${'v'.repeat(128)}`, 7, null)
    const envelope = fc.oneof(
      fc.tuple(fc.constantFrom(0, 1, 2, 3, 4, 5), fc.nat(4), fc.nat(4), fc.oneof(fc.nat(), fc.string({ maxLength: 3 })), fc.anything()).map((t) => t as unknown[]),
      fc.anything(),
    )
    const frame = fc.oneof(
      fc.tuple(fc.constantFrom<unknown>(3, 2, '3'), fc.oneof(fc.array(addr, { maxLength: 4 }), fc.anything()), fc.array(envelope, { maxLength: 3 })).map(([v, a, es]) => [v, a, ...es]),
      fc.anything(),
    )
    fc.assert(
      fc.property(frame, (x) => {
        const bytes = pack(x)
        expect(decodeFrame(bytes, link, cache)).toEqual(decodeFrame(bytes, link))
      }),
      { numRuns: 3000 },
    )
    const bytes = encodeFrame([{ t: 'msg', from: parseAddress('cl/node-a/store'), to: parseAddress('cl/node-b/store'), m: 'repl', b: 1 }], { clusterId: 'cl', self: 'node-a', peer: 'node-b' })
    const [a, b] = [decodeFrame(bytes, link, cache), decodeFrame(bytes, link, cache)]
    if (!a.ok || !b.ok) throw new Error('a good frame was refused')
    expect(a.envelopes[0]!.to).toBe(b.envelopes[0]!.to)
    expect(Object.isFrozen(a.envelopes[0]!.to)).toBe(true)
    expect(a.envelopes[0]!.to).toEqual(parseAddress('cl/node-b/store'))
  })

  it('cannot pollute prototypes through a decoded body', () => {
    const evil = pack([3, ['c/a/e', 'c/b/e'], [3, 0, 1, 'x', JSON.parse('{"__proto__":{"polluted":1}}')]])
    const out = decodeFrame(evil)
    expect(out.ok).toBe(true)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    if (out.ok) expect(Object.getPrototypeOf(out.envelopes[0]!.t === 'msg' ? out.envelopes[0]!.b : null)).toBe(Object.prototype)
  })
})

describe('encoder buffer', () => {
  it('is let go of once it grew large (a quiet node), and encoding goes on as before', () => {
    const big = encodeValue({ snapshot: new Uint8Array(300_000).fill(7) })
    expect(big.buffer.byteLength).toBeGreaterThan(1024 * 1024) // msgpackr: 4x the largest output
    expect(releaseEncoderBuffer()).toBe(true)
    const small = encodeValue({ n: 1 })
    expect(small.buffer.byteLength).toBeLessThan(64 * 1024)
    expect(releaseEncoderBuffer()).toBe(false) // nothing large to let go of
    expect(new Uint8Array((decodeValue(big) as { snapshot: Uint8Array }).snapshot)).toEqual(new Uint8Array(300_000).fill(7)) // views already handed out stay valid
    expect(decodeValue(small)).toEqual({ n: 1 })
  })
})
