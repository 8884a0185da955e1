/**
 * Stable 32-bit hashes for placement. FNV-1a over UTF-8 with a murmur3 finalizer: it must give the
 * same answer in every browser and Node version, so no platform hash is used.
 */
const encoder = new TextEncoder()

export function hash32(input: string): number {
  let h = 0x811c9dc5
  const bytes = encoder.encode(input)
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h)
}

function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
