/**
 * Records on disk carry a CRC-32 of their payload: a truncated or garbled file is detected when it
 * is read, instead of being decoded into wrong data.
 */
const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** The payload behind its checksum, in a new array. */
export function seal(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 4)
  out.set(payload, 4)
  return sealInPlace(out)
}

/**
 * Writes the checksum of `record`'s payload (everything after its first 4 bytes) into those 4
 * bytes, for a payload encoded with room for it: a snapshot of a big domain is not copied again.
 */
export function sealInPlace(record: Uint8Array): Uint8Array {
  if (record.length < 4) throw new RangeError('a sealed record needs 4 bytes for its checksum')
  new DataView(record.buffer, record.byteOffset, 4).setUint32(0, crc32(record.subarray(4)))
  return record
}

/** The payload, or undefined if the record is damaged. */
export function unseal(record: Uint8Array): Uint8Array | undefined {
  if (record.length < 4) return undefined
  const payload = record.subarray(4)
  const stored = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(0)
  return stored === crc32(payload) ? payload : undefined
}
