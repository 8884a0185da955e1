/**
 * Stable 32-bit hashes for placement. FNV-1a over UTF-8 with a murmur3 finalizer: it must give the
 * same answer in every browser and Node version, so no platform hash is used. The UTF-8 bytes are
 * produced inline (as TextEncoder would, lone surrogates as U+FFFD): this runs for every read and
 * write, and an encoder call allocated an array each time.
 */
export function hash32(input: string): number {
  // FNV-1a steps written out: a helper closure here cost 2 % of a busy node's CPU (it is
  // allocated on every call, and named on every call when run through tsx).
  const P = 0x01000193
  let h = 0x811c9dc5
  for (let i = 0; i < input.length; i++) {
    let c = input.charCodeAt(i)
    if (c < 0x80) {
      h = Math.imul(h ^ c, P)
      continue
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), P)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), P)
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < input.length ? input.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        i++
        h = Math.imul(h ^ (0xf0 | (c >> 18)), P)
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), P)
        h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), P)
        h = Math.imul(h ^ (0x80 | (c & 0x3f)), P)
        continue
      }
      c = 0xfffd // a lone surrogate, as TextEncoder writes it
    }
    h = Math.imul(h ^ (0xe0 | (c >> 12)), P)
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), P)
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), P)
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
