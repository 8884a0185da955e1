/**
 * Finds where msgpack values end without decoding them, so that a receiver can keep the bytes of
 * a snapshot's objects as they came (they are the records an ObjectTable stores) instead of
 * encoding every decoded object again: that was 40 % of a receiver's work per snapshot part.
 * Iterative (a count of values still to skip), so no nesting depth can overflow the stack.
 */
import { decodeValue } from './codec.js'

export class MsgpackSkipError extends Error {
  override name = 'MsgpackSkipError'
}

/**
 * The offset just past the msgpack value that starts at `at`. With `plain`, an extension type is
 * refused too. Plain msgpack is what the decoder (msgpack.ts) reads the same in a record alone as in the whole
 * buffer: its records (a structure defined by an extension, then referred to by bytes 0x40-0x7f,
 * standard msgpack's fixints) make bytes depend on what came before, and no skipper can follow them.
 */
export function skipValue(bytes: Uint8Array, at: number, plain = false): number {
  const size = bytes.length
  let pos = at
  let pending = 1
  while (pending > 0) {
    pending--
    if (pos >= size) throw past(at, size)
    const b = bytes[pos]!
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) pos += 1
    else if (b <= 0x8f) {
      pending += 2 * (b & 0x0f)
      pos += 1
    } else if (b <= 0x9f) {
      pending += b & 0x0f
      pos += 1
    } else if (b <= 0xbf) pos += 1 + (b & 0x1f)
    else {
      if (plain && ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8))) throw new MsgpackSkipError(`extension type at ${pos}`)
      const fixed = FIXED[b - 0xc0]!
      if (fixed > 0) pos += fixed
      else if (fixed < 0) throw new MsgpackSkipError(`byte ${b} at ${pos} starts no msgpack value`)
      else {
        // A length or count of 1, 2 or 4 bytes follows the type byte.
        const width = WIDTH[b - 0xc0]!
        if (pos + 1 + width > size) throw past(at, size)
        const n = width === 1 ? bytes[pos + 1]! : width === 2 ? (bytes[pos + 1]! << 8) | bytes[pos + 2]! : ((bytes[pos + 1]! << 24) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!) >>> 0
        pos += 1 + width
        if (b >= 0xdc) pending += b >= 0xde ? 2 * n : n // array, map: children follow
        else pos += n + (b >= 0xc7 && b <= 0xc9 ? 1 : 0) // str, bin, ext (ext has a type byte)
      }
    }
  }
  if (pos > size) throw past(at, size)
  return pos
}

const past = (at: number, size: number) => new MsgpackSkipError(`msgpack value at ${at} runs past the end (${size} bytes)`)

/** Per type byte 0xc0-0xdf: its whole length if fixed, 0 if a length follows, -1 if unused. */
const FIXED = [1, -1, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18, 0, 0, 0, 0, 0, 0, 0]
/** Per type byte 0xc0-0xdf: the width of the length or count that follows (where FIXED is 0). */
const WIDTH = [0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4]

/** The header of a map or array at `at`: its entry count and where its first child starts. */
export function header(bytes: Uint8Array, at: number, kind: 'map' | 'array'): { count: number; first: number } | undefined {
  const b = bytes[at]
  if (b === undefined) return undefined
  const [fix, b16, b32] = kind === 'map' ? [0x80, 0xde, 0xdf] : [0x90, 0xdc, 0xdd]
  if ((b & 0xf0) === fix) return { count: b & 0x0f, first: at + 1 }
  if (b === b16 && at + 3 <= bytes.length) return { count: (bytes[at + 1]! << 8) | bytes[at + 2]!, first: at + 3 }
  if (b === b32 && at + 5 <= bytes.length) return { count: ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0, first: at + 5 }
  return undefined
}

/**
 * Where the parts of a snapshot lie in its bytes, found without decoding it: each element of its
 * `objects` array (views of `bytes`, not copies), and where the value of each other key starts
 * and ends (the last of a key named twice, as the decoder reads it).
 */
export interface SnapshotLayout {
  elements: Uint8Array[]
  fields: Map<string, { at: number; end: number }>
}

/**
 * The layout of a msgpack map holding an `objects` array (a snapshot). Undefined if the bytes are
 * not such a map, or hold an extension type anywhere: the caller then decodes the snapshot and
 * encodes each object anew. It must find what the decoder finds, so a map whose keys are not all
 * strings (the decoder turns others into strings), or that names `objects` twice (the decoder
 * keeps the last), is declined.
 */
export const snapshotLayout = (bytes: Uint8Array): SnapshotLayout | undefined => declining(() => layout(bytes))

/** What `walk` returns, or undefined if it met bytes the skipper declines (MsgpackSkipError). */
export function declining<T>(walk: () => T | undefined): T | undefined {
  try {
    return walk()
  } catch (err) {
    if (err instanceof MsgpackSkipError) return undefined
    throw err
  }
}

/** The elements of a snapshot's `objects` array (`snapshotLayout`). */
export const snapshotElements = (bytes: Uint8Array): Uint8Array[] | undefined => snapshotLayout(bytes)?.elements

function layout(bytes: Uint8Array): SnapshotLayout | undefined {
  const map = header(bytes, 0, 'map')
  if (!map) return undefined
  let elements: Uint8Array[] | undefined
  const fields = new Map<string, { at: number; end: number }>()
  let pos = map.first
  for (let i = 0; i < map.count; i++) {
    const key = stringAt(bytes, pos)
    if (key === undefined) return undefined
    pos = key.end
    if (key.text !== 'objects') {
      const end = skipValue(bytes, pos, true)
      fields.set(key.text, { at: pos, end })
      pos = end
      continue
    }
    const arr = header(bytes, pos, 'array')
    if (!arr || elements) return undefined
    elements = []
    pos = arr.first
    for (let j = 0; j < arr.count; j++) {
      const end = skipValue(bytes, pos, true)
      elements.push(bytes.subarray(pos, end))
      pos = end
    }
  }
  return elements && { elements, fields }
}

/**
 * The string at `at` and where it ends, or undefined if no string starts there. Read by the
 * decoder itself: how it reads malformed UTF-8 is what counts.
 */
export function stringAt(bytes: Uint8Array, at: number): { text: string; end: number } | undefined {
  const b = bytes[at]
  if (b === undefined || !((b & 0xe0) === 0xa0 || (b >= 0xd9 && b <= 0xdb))) return undefined
  const end = skipValue(bytes, at)
  return { text: decodeValue(bytes.subarray(at, end)) as string, end }
}
