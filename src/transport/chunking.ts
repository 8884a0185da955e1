/**
 * Frames over a data channel: each message starts with one flag byte. A frame that fits in one
 * chunk is [0, ...frame]; a larger one is split into [1, ...part] chunks and ends with [2, ...part].
 * The channel is ordered and reliable, so the receiver only concatenates. A lone [3] says the
 * sender is closing the link: the far side need not wait for the channel's own close, which a
 * connection torn down at once does not always get out.
 */
const WHOLE = 0
const MORE = 1
const LAST = 2
const BYE = 3

export const byeChunk = (): Uint8Array => Uint8Array.of(BYE)
export const isBye = (chunk: Uint8Array): boolean => chunk.byteLength === 1 && chunk[0] === BYE

/** Largest frame a peer may send us (reassembly memory is bounded by it). */
export const MAX_REASSEMBLED_BYTES = 64 * 1024 * 1024

export function chunkFrame(frame: Uint8Array, chunkSize: number): Uint8Array[] {
  const room = chunkSize - 1
  if (frame.byteLength <= room) return [withFlag(WHOLE, frame)]
  const out: Uint8Array[] = []
  for (let at = 0; at < frame.byteLength; at += room) {
    const part = frame.subarray(at, Math.min(at + room, frame.byteLength))
    out.push(withFlag(at + room >= frame.byteLength ? LAST : MORE, part))
  }
  return out
}

function withFlag(flag: number, part: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(part.byteLength + 1)
  chunk[0] = flag
  chunk.set(part, 1)
  return chunk
}

export class ChunkAssembler {
  private parts: Uint8Array[] = []
  private size = 0

  /** A whole frame, undefined while more is to come, or an Error for a broken chunk stream. */
  push(chunk: Uint8Array): Uint8Array | Error | undefined {
    if (chunk.byteLength === 0) return new Error('empty chunk')
    const flag = chunk[0]
    const body = chunk.subarray(1)
    if (flag === WHOLE) {
      if (this.parts.length > 0) return new Error('whole frame in the middle of a chunked one')
      return body
    }
    if (flag !== MORE && flag !== LAST) return new Error(`unknown chunk flag ${flag}`)
    this.size += body.byteLength
    if (this.size > MAX_REASSEMBLED_BYTES) return new Error(`chunked frame over ${MAX_REASSEMBLED_BYTES} bytes`)
    this.parts.push(body)
    if (flag === MORE) return undefined
    const frame = new Uint8Array(this.size)
    let at = 0
    for (const p of this.parts) {
      frame.set(p, at)
      at += p.byteLength
    }
    this.parts = []
    this.size = 0
    return frame
  }
}
