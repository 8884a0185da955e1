/** The hand-written SHA-256 / HMAC-SHA256 agrees with node:crypto, across block boundaries. */
import { createHash, createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { hmacSha256Hex, sha256 } from '../../src/util/hmac.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('sha256 and hmacSha256Hex', () => {
  it('match node:crypto for every length around the block boundaries', () => {
    for (let n = 0; n < 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff)
      expect(hex(sha256(data))).toBe(createHash('sha256').update(data).digest('hex'))
    }
  })

  it('match node:crypto for short, block-sized and long keys, and non-ASCII text', () => {
    for (const key of ['', 'k', 'x'.repeat(64), 'y'.repeat(65), 'ключ-🔑'.repeat(20)]) {
      for (const msg of ['', 'hello', 'é'.repeat(100), 'z'.repeat(1000)]) {
        expect(hmacSha256Hex(key, msg)).toBe(createHmac('sha256', key).update(msg).digest('hex'))
      }
    }
  })
})
