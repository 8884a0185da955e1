/**
 * HMAC-SHA256 as lowercase hex. It is synchronous, unlike WebCrypto, whose answers arrive from a
 * thread pool at times no simulation controls; and it needs no key import per call, which made
 * session tokens the most expensive part of a session request. Written out here (FIPS 180-4,
 * RFC 2104) rather than taken from @noble/hashes, whose SHA-2 module cost browser apps 7 kB
 * minified for this one function; test/util/hmac.test.ts checks it against node:crypto.
 */

/**
 * The constants as FIPS 180-4 defines them: the first 32 bits of the fractional parts of the cube
 * roots (K) and square roots (H) of the first 64 (8) primes. Computed rather than spelled out in
 * hex, which cost browser apps half a kilobyte after gzip; double precision gets every bit right
 * (test/util/hmac.test.ts checks the hashes against node:crypto).
 */
const PRIMES: number[] = []
for (let n = 2; PRIMES.length < 64; n++) if (PRIMES.every((p) => n % p)) PRIMES.push(n)
const K = Int32Array.from(PRIMES, (p) => (Math.cbrt(p) % 1) * 2 ** 32)
const H = Int32Array.from(PRIMES.slice(0, 8), (p) => (Math.sqrt(p) % 1) * 2 ** 32)

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  // The message, a 1 bit, zeros, and its length in bits (64-bit big-endian), to whole 64-byte blocks.
  const len = data.length
  const m = new Uint8Array(Math.ceil((len + 9) / 64) * 64)
  m.set(data)
  m[len] = 0x80
  const bits = len * 8
  const hi = Math.floor(len / 0x20000000)
  m[m.length - 8] = hi >>> 24
  m[m.length - 7] = hi >>> 16
  m[m.length - 6] = hi >>> 8
  m[m.length - 5] = hi
  m[m.length - 4] = bits >>> 24
  m[m.length - 3] = bits >>> 16
  m[m.length - 2] = bits >>> 8
  m[m.length - 1] = bits
  let h0 = H[0]!, h1 = H[1]!, h2 = H[2]!, h3 = H[3]!, h4 = H[4]!, h5 = H[5]!, h6 = H[6]!, h7 = H[7]!
  const w = new Int32Array(64)
  for (let b = 0; b < m.length; b += 64) {
    for (let i = 0; i < 16; i++) w[i] = (m[b + i * 4]! << 24) | (m[b + i * 4 + 1]! << 16) | (m[b + i * 4 + 2]! << 8) | m[b + i * 4 + 3]!
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!
      const y = w[i - 2]!
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
    }
    let a = h0, bb = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
      const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0
      hh = g
      g = f
      f = e
      e = (d + t1) | 0
      d = c
      c = bb
      bb = a
      a = (t1 + t2) | 0
    }
    h0 = (h0 + a) | 0
    h1 = (h1 + bb) | 0
    h2 = (h2 + c) | 0
    h3 = (h3 + d) | 0
    h4 = (h4 + e) | 0
    h5 = (h5 + f) | 0
    h6 = (h6 + g) | 0
    h7 = (h7 + hh) | 0
  }
  const out = new Uint8Array(32)
  const hs = [h0, h1, h2, h3, h4, h5, h6, h7]
  for (let i = 0; i < 8; i++) {
    const x = hs[i]!
    out[i * 4] = x >>> 24
    out[i * 4 + 1] = x >>> 16
    out[i * 4 + 2] = x >>> 8
    out[i * 4 + 3] = x
  }
  return out
}

const encoder = new TextEncoder()

/** HMAC-SHA256 (RFC 2104) of `message` under `key`. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const k = new Uint8Array(64)
  k.set(key.length > 64 ? sha256(key) : key)
  const inner = new Uint8Array(64 + message.length)
  const outer = new Uint8Array(64 + 32)
  for (let i = 0; i < 64; i++) {
    inner[i] = k[i]! ^ 0x36
    outer[i] = k[i]! ^ 0x5c
  }
  inner.set(message, 64)
  outer.set(sha256(inner), 64)
  return sha256(outer)
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function hmacSha256Hex(key: string, message: string): string {
  let out = ''
  for (const b of hmacSha256(encoder.encode(key), encoder.encode(message))) out += HEX[b]
  return out
}
