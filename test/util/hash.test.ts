/** Placement depends on hash32 giving the same answer everywhere, for every string. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hash32 } from '../../src/util/hash.js'

/** The definition: FNV-1a over TextEncoder's UTF-8, murmur3 finalizer. */
function reference(input: string): number {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(input)) h = Math.imul(h ^ b, 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

describe('hash32', () => {
  it('keeps the values placement was built on', () => {
    // Computed by the first implementation (TextEncoder); a change here would move every key.
    expect(['', 'a', 'shop\u0000cart-1', 'é', '日本', '😀', '\ud800x'].map(hash32)).toEqual([2872998923, 444641715, 3027657558, 2387039943, 4026831135, 855877642, 3337331921])
  })

  it('equals the TextEncoder definition for any string, lone surrogates included', () => {
    const anyUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units))
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), anyUnits, fc.constantFrom('\ud800', '\udc00x', 'a\ud83d', '\ud83d\ude00\ud83d')), (s) => hash32(s) === reference(s)), { numRuns: 5_000 })
  })
})
