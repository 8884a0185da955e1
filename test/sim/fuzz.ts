/**
 * Fuzzing with fast-check: every decoder and the patch guard get arbitrary input. Nothing may
 * crash (only named errors or clean "malformed" results), and nothing may reach a prototype.
 * `npm run fuzz -- --runs N` (default 100,000 per target); the test suite runs a smaller share.
 */
import fc from 'fast-check'
import { pack } from 'msgpackr'
import * as v from '../../src/util/schema.js'
import { DomainMeshError } from '../../src/errors.js'
import { parseAddress } from '../../src/routing/address.js'
import { TokenSchema } from '../../src/session/token.js'
import { DEFAULT_LIMITS, checkPatches, checkValue } from '../../src/objects/guard.js'
import { applyChange } from '../../src/objects/objects.js'
import { ClientMessageSchema } from '../../src/topology/protocol.js'
import { ChunkAssembler } from '../../src/transport/chunking.js'
import { decodeFrame } from '../../src/wire/codec.js'

const polluted = () => ({} as Record<string, unknown>).polluted !== undefined || (Object.prototype as Record<string, unknown>).x !== undefined

/** Only named errors (or a clean result) may come out. */
function named(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof DomainMeshError)) throw new Error(`unnamed error: ${String(err)}`)
  }
  if (polluted()) throw new Error('prototype polluted')
}

const segment = fc.oneof(fc.constantFrom('__proto__', 'prototype', 'constructor', '-', '0', 'a'), fc.string({ maxLength: 6 }), fc.nat(20))
const patch = fc.record({ op: fc.oneof(fc.constantFrom('add', 'replace', 'remove'), fc.string()), path: fc.array(segment, { maxLength: 6 }), value: fc.jsonValue() })
const base = { a: { b: [1, 2, { c: 'x' }] }, d: 'e', list: [0, 1, 2] }

export const targets: Record<string, fc.IPropertyWithHooks<never> | fc.IProperty<never>> = {
  'frame decoder (random bytes)': fc.property(fc.uint8Array({ maxLength: 256 }), (b) => void decodeFrame(b)) as never,
  'frame decoder (msgpack of anything)': fc.property(fc.anything(), (x) => {
    const r = decodeFrame(pack(x))
    if (polluted()) throw new Error('prototype polluted')
    void r
  }) as never,
  // Near-valid frames reach the deeper checks: tuples of every kind with random fields.
  'frame decoder (frame-shaped)': fc.property(
    fc.tuple(fc.oneof(fc.constant(2), fc.anything()), fc.array(fc.oneof(fc.constantFrom('c/a/e', 'c/*/t@vs', '__proto__'), fc.string({ maxLength: 20 })), { maxLength: 4 }), fc.array(fc.tuple(fc.nat(5), fc.nat(4), fc.nat(4), fc.oneof(fc.nat(), fc.string({ maxLength: 8 })), fc.anything()), { minLength: 1, maxLength: 4 })),
    ([version, addresses, envelopes]) => {
      const r = decodeFrame(pack([version, addresses, ...envelopes]))
      if (polluted()) throw new Error('prototype polluted')
      void r
    },
  ) as never,
  'address parser': fc.property(fc.string({ maxLength: 80 }), (s) => named(() => parseAddress(s))) as never,
  'chunk assembler': fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (chunks) => {
    const asm = new ChunkAssembler()
    for (const c of chunks) void asm.push(c)
  }) as never,
  'topology messages': fc.property(fc.anything(), (x) => void v.safeParse(ClientMessageSchema, x)) as never,
  'failover tokens': fc.property(fc.anything(), (x) => void v.safeParse(TokenSchema, x)) as never,
  'patch guard and apply': fc.property(fc.array(patch, { maxLength: 4 }), (ps) =>
    named(() => {
      checkPatches(ps as never, DEFAULT_LIMITS)
      applyChange('k', { value: base, version: 1, base: 1 }, { kind: 'patch', patches: ps as never }, 2)
    }),
  ) as never,
  'value guard': fc.property(fc.anything({ withMap: true, withSet: true, withDate: true, withNullPrototype: true, withObjectString: true }), (x) => named(() => checkValue(x, DEFAULT_LIMITS))) as never,
}

export function fuzzAll(runs: number, seed = 42): { target: string; runs: number }[] {
  const out = []
  for (const [name, prop] of Object.entries(targets)) {
    fc.assert(prop, { numRuns: runs, seed })
    out.push({ target: name, runs })
  }
  return out
}
