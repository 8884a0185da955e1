/**
 * Byte strings joined into one (the snapshot encoder's parts, tests' hand-made msgpack), after
 * `headroom` zero bytes left for a header the caller writes in place (a checksum).
 */
export function concatBytes(parts: readonly Uint8Array[], headroom = 0): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, headroom))
  let at = headroom
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}
