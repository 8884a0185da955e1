/**
 * The msgpack the SDK writes and reads, written for what its frames and stored values hold: plain
 * data (null, booleans, numbers, strings, arrays, objects, `undefined` members) and byte strings.
 * It replaced msgpackr, a third of the browser bundle's weight outside the SDK's own code, of
 * which the SDK used the records extension and little else (docs/design.md, "The browser bundle").
 *
 * Its output is msgpackr's, byte for byte, for those values (test/wire/msgpack.test.ts holds it to
 * that, both ways): without records, what a node stored before reads the same, and the layouts
 * that other modules write or find by hand (snapshot-encoder.ts, object-record.ts,
 * msgpack-skip.ts) stay what they were; with records (frames), a frame is one msgpackr reads, and
 * this decoder reads msgpackr's, so the wire protocol is unchanged.
 *
 * Records are msgpackr's: the first object of a shape in a frame is written as a definition
 * (fixext 1 of type 0x72 holding an id 0x40-0x7f, then the array of its keys, then its values),
 * and every later object of that shape as the id byte and its values. So a batch of like
 * messages spells its keys once. Integers 0x40-0x7f are then written as uint8, since those bytes
 * name records. A decoder keeps the definitions of one frame only.
 */
import { DomainMeshError } from '../errors.js'

/**
 * Bytes that are no msgpack this decoder reads, or a value with no msgpack form here (a symbol, a
 * bigint): the message says what and where.
 */
export class MsgpackError extends DomainMeshError {
  constructor(message: string) {
    super('MSGPACK', message)
  }
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()
/** Records one frame may define (msgpackr's one-byte ids). */
const MAX_RECORDS = 64

export interface MsgpackEncoder {
  /**
   * The bytes of `value`: a view of the encoder's buffer, valid for good (later outputs go after
   * it, or into a new buffer).
   */
  encode(value: unknown, records: boolean): Uint8Array
  /** Starts a small buffer if the current one is over `above` bytes; true if it did. */
  release(above: number): boolean
}

/** A shape of object met in the frame being encoded: its record id once it has one. */
interface Shape {
  next: Map<string, Shape> | undefined
  id: number
}

/**
 * An encoder. Its buffer grows to four times the largest output so far (msgpackr's rule) and is
 * kept, so that encoding does not allocate while a node is busy; `release` lets a large one go.
 */
export function createEncoder(): MsgpackEncoder {
  let buf = new Uint8Array(8192)
  let view = new DataView(buf.buffer)
  let pos = 0
  let start = 0
  let records = false
  let shapes: Shape | undefined
  let nextRecord = 0

  const room = (n: number): void => {
    if (pos + n <= buf.length) return
    const size = ((Math.max((pos + n - start) << 2, buf.length - 1) >> 12) + 1) << 12
    const next = new Uint8Array(size)
    next.set(buf.subarray(start, pos))
    pos -= start
    start = 0
    buf = next
    view = new DataView(buf.buffer)
  }

  const header = (n: number, fix: number, b16: number): void => {
    if (n < 16) buf[pos++] = fix | n
    else if (n < 0x10000) {
      buf[pos++] = b16
      buf[pos++] = n >> 8
      buf[pos++] = n & 0xff
    } else {
      buf[pos++] = b16 + 1
      view.setUint32(pos, n)
      pos += 4
    }
  }

  const writeString = (s: string): void => {
    const chars = s.length
    const headerSize = chars < 0x20 ? 1 : chars < 0x100 ? 2 : chars < 0x10000 ? 3 : 5
    room(headerSize + chars * 3)
    let at = pos + headerSize
    // ASCII by hand (a call to TextEncoder costs more than a short key), the rest by TextEncoder,
    // which writes a lone surrogate as U+FFFD, as msgpackr does.
    let ascii = chars < 0x40
    for (let i = 0; ascii && i < chars; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x80) buf[at++] = c
      else ascii = false
    }
    if (!ascii) at = pos + headerSize + textEncoder.encodeInto(s, buf.subarray(pos + headerSize)).written
    const length = at - pos - headerSize
    // The header was guessed from the length in characters; the bytes may need a longer one.
    if (length < 0x20) buf[pos++] = 0xa0 | length
    else if (length < 0x100) {
      if (headerSize < 2) buf.copyWithin(pos + 2, pos + 1, pos + 1 + length)
      buf[pos++] = 0xd9
      buf[pos++] = length
    } else if (length < 0x10000) {
      if (headerSize < 3) buf.copyWithin(pos + 3, pos + headerSize, pos + headerSize + length)
      buf[pos++] = 0xda
      buf[pos++] = length >> 8
      buf[pos++] = length & 0xff
    } else {
      if (headerSize < 5) buf.copyWithin(pos + 5, pos + headerSize, pos + headerSize + length)
      buf[pos++] = 0xdb
      view.setUint32(pos, length)
      pos += 4
    }
    pos += length
  }

  const writeNumber = (n: number): void => {
    if (n >>> 0 === n) {
      if (n < 0x40 || (n < 0x80 && !records)) buf[pos++] = n
      else if (n < 0x100) {
        buf[pos++] = 0xcc
        buf[pos++] = n
      } else if (n < 0x10000) {
        buf[pos++] = 0xcd
        buf[pos++] = n >> 8
        buf[pos++] = n & 0xff
      } else {
        buf[pos++] = 0xce
        view.setUint32(pos, n)
        pos += 4
      }
    } else if (n >> 0 === n) {
      if (n >= -0x20) buf[pos++] = 0x100 + n
      else if (n >= -0x80) {
        buf[pos++] = 0xd0
        buf[pos++] = n + 0x100
      } else if (n >= -0x8000) {
        buf[pos++] = 0xd1
        view.setInt16(pos, n)
        pos += 2
      } else {
        buf[pos++] = 0xd2
        view.setInt32(pos, n)
        pos += 4
      }
    } else {
      // Integers past 32 bits too, as msgpackr writes them.
      buf[pos++] = 0xcb
      view.setFloat64(pos, n)
      pos += 8
    }
  }

  const writeMap = (o: Record<string, unknown>, keys: string[]): void => {
    header(keys.length, 0x80, 0xde)
    for (const k of keys) {
      write(k)
      write(o[k])
    }
  }

  const writeObject = (o: Record<string, unknown>): void => {
    const keys = Object.keys(o)
    if (!records) return writeMap(o, keys)
    let shape = (shapes ??= { next: undefined, id: 0 })
    for (const k of keys) {
      const map = (shape.next ??= new Map())
      let next = map.get(k)
      if (!next) map.set(k, (next = { next: undefined, id: 0 }))
      shape = next
    }
    if (shape.id) buf[pos++] = shape.id
    else if (nextRecord < MAX_RECORDS) {
      shape.id = 0x40 + nextRecord++
      buf[pos++] = 0xd4
      buf[pos++] = 0x72
      buf[pos++] = shape.id
      write(keys)
    } else return writeMap(o, keys)
    for (const k of keys) write(o[k])
  }

  const write = (value: unknown): void => {
    // The most a scalar or a header takes; strings and byte strings make room for themselves.
    room(16)
    switch (typeof value) {
      case 'string':
        return writeString(value)
      case 'number':
        return writeNumber(value)
      case 'boolean':
        buf[pos++] = value ? 0xc3 : 0xc2
        return
      case 'undefined':
      case 'function':
        // fixext 1 of type 0: undefined, as msgpackr (and notepack) write it.
        buf[pos++] = 0xd4
        buf[pos++] = 0
        buf[pos++] = 0
        return
      case 'object': {
        if (value === null) {
          buf[pos++] = 0xc0
          return
        }
        if (Array.isArray(value)) {
          header(value.length, 0x90, 0xdc)
          for (const item of value) write(item)
          return
        }
        if (value instanceof Uint8Array) {
          const n = value.byteLength
          room(5 + n)
          if (n < 0x100) {
            buf[pos++] = 0xc4
            buf[pos++] = n
          } else if (n < 0x10000) {
            buf[pos++] = 0xc5
            buf[pos++] = n >> 8
            buf[pos++] = n & 0xff
          } else {
            buf[pos++] = 0xc6
            view.setUint32(pos, n)
            pos += 4
          }
          buf.set(value, pos)
          pos += n
          return
        }
        // What JSON would write for an instance of a class (a Date, say), else its own keys. Stored
        // values and messages are plain data; this is for what a caller may put in error details.
        const json = (value as { toJSON?: () => unknown }).toJSON
        const out = typeof json === 'function' && Object.getPrototypeOf(value) !== Object.prototype ? (json.call(value) as unknown) : value
        if (out !== value) return write(out)
        return writeObject(value as Record<string, unknown>)
      }
      default:
        throw new MsgpackError(`a ${typeof value} has no msgpack form here`)
    }
  }

  return {
    encode(value, withRecords) {
      // Too little left for a typical output: a new buffer, so that no handed-out view is overwritten.
      if (buf.length - pos < 2048) {
        buf = new Uint8Array(buf.length)
        view = new DataView(buf.buffer)
        pos = start = 0
      }
      records = withRecords
      shapes = undefined
      nextRecord = 0
      try {
        write(value)
      } catch (err) {
        pos = start
        throw err
      }
      const out = buf.subarray(start, pos)
      start = pos
      return out
    },
    release(above) {
      if (buf.length <= above) return false
      buf = new Uint8Array(8192)
      view = new DataView(buf.buffer)
      pos = start = 0
      return true
    },
  }
}

/**
 * The value `bytes` hold, which must be exactly one. Byte strings come out as views of `bytes`.
 * Keys named `__proto__` come out as `__proto_` (as msgpackr reads them), so no input reaches a
 * prototype. Records (see above) are read whether or not the encoder wrote them; their
 * definitions last for one call.
 */
export const decode = createDecoder()

function createDecoder(): (bytes: Uint8Array) => unknown {
  // The input of the call under way (decoding is synchronous: one at a time).
  const empty = new Uint8Array(0)
  const emptyView = new DataView(empty.buffer)
  let src: Uint8Array = empty
  let view: DataView = emptyView
  let pos = 0
  let records: (string[] | undefined)[] = []

  const fail = (what: string): never => {
    throw new MsgpackError(what)
  }
  /** Where the next `n` bytes start, once they are known to be there. */
  const need = (n: number): number => {
    if (pos + n > src.length) fail(`msgpack cut short at ${pos}`)
    return (pos += n) - n
  }
  const u8 = () => src[need(1)]!
  const u16 = () => view.getUint16(need(2))
  const u32 = () => view.getUint32(need(4))

  const array = (n: number): unknown[] => {
    // Every item takes a byte at least: a count the bytes cannot hold is refused before any allocation.
    if (n > src.length - pos) fail(`msgpack cut short: ${n} items at ${pos}`)
    const out = new Array<unknown>(n)
    for (let i = 0; i < n; i++) out[i] = read()
    return out
  }

  /**
   * Short keys by their bytes, to the string decoded from them the first time: the same string
   * object each time, which V8 looks up once as a property name; a new one per object made every
   * property store look it up again (a quarter of the time to read a stored log).
   */
  const keyCache: { bytes: Uint8Array; key: string }[] = []
  const readKey = (): unknown => {
    const b = src[pos]!
    const n = b - 0xa0
    if (n < 1 || n > 16 || pos + 1 + n > src.length) return read()
    const at = pos + 1
    let h = n
    for (let i = at; i < at + n; i++) h = (h * 31 + src[i]!) | 0
    const slot = h & 0x3ff
    const hit = keyCache[slot]
    found: if (hit && hit.bytes.length === n) {
      for (let i = 0; i < n; i++) if (hit.bytes[i] !== src[at + i]) break found
      pos = at + n
      return hit.key
    }
    const k = read() as string
    keyCache[slot] = { bytes: src.slice(at, at + n), key: k }
    return k
  }

  const map = (n: number): Record<string, unknown> => {
    if (2 * n > src.length - pos) fail(`msgpack cut short: ${n} entries at ${pos}`)
    const out: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      const at = pos
      let key = readKey()
      if (typeof key === 'number') key = String(key)
      else if (typeof key !== 'string') fail(`map key at ${at} is not a string`)
      out[key === '__proto__' ? '__proto_' : (key as string)] = read()
    }
    return out
  }

  const record = (keys: string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (const key of keys) out[key === '__proto__' ? '__proto_' : key] = read()
    return out
  }

  const string = (n: number): string => {
    const at = need(n)
    if (n < 16) {
      let s = ''
      for (let i = at; i < at + n; i++) {
        const c = src[i]!
        if (c >= 0x80) return textDecoder.decode(src.subarray(at, at + n))
        s += String.fromCharCode(c)
      }
      return s
    }
    return textDecoder.decode(src.subarray(at, at + n))
  }

  const bytes = (n: number): Uint8Array => src.subarray(need(n), pos)

  const ext = (n: number): unknown => {
    const type = u8()
    const at = need(n)
    // fixext 1 of type 0: undefined.
    if (type === 0 && n === 1) return undefined
    if (type !== 0x72 || n !== 1) return fail(`msgpack extension type ${type} at ${at - 2} is not read here`)
    const id = src[at]! & 0x3f
    const keys = read()
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail(`record ${id} at ${at} has no list of keys`)
    return record((records[id] = keys as string[]))
  }

  /** 64-bit integers as the nearest number. */
  const int64 = (high: number): number => high * 0x1_0000_0000 + view.getUint32(pos - 4)

  const read = (): unknown => {
    const b = u8()
    if (b < 0x40) return b
    if (b < 0x80) {
      const keys = records[b - 0x40]
      return keys ? record(keys) : b
    }
    if (b < 0x90) return map(b & 0x0f)
    if (b < 0xa0) return array(b & 0x0f)
    if (b < 0xc0) return string(b & 0x1f)
    if (b >= 0xe0) return b - 0x100
    // prettier-ignore
    switch (b) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return bytes(u8())
      case 0xc5: return bytes(u16())
      case 0xc6: return bytes(u32())
      case 0xc7: return ext(u8())
      case 0xc8: return ext(u16())
      case 0xc9: return ext(u32())
      case 0xca: return view.getFloat32(need(4))
      case 0xcb: return view.getFloat64(need(8))
      case 0xcc: return u8()
      case 0xcd: return u16()
      case 0xce: return u32()
      case 0xcf: return int64(view.getUint32(need(8)))
      case 0xd0: return view.getInt8(need(1))
      case 0xd1: return view.getInt16(need(2))
      case 0xd2: return view.getInt32(need(4))
      case 0xd3: return int64(view.getInt32(need(8)))
      case 0xd9: return string(u8())
      case 0xda: return string(u16())
      case 0xdb: return string(u32())
      case 0xdc: return array(u16())
      case 0xdd: return array(u32())
      case 0xde: return map(u16())
      case 0xdf: return map(u32())
    }
    // fixext 1, 2, 4, 8, 16
    if (b >= 0xd4) return ext(1 << (b - 0xd4))
    return fail(`byte 0xc1 at ${pos - 1} starts no msgpack value`)
  }

  return (input) => {
    src = input
    view = new DataView(input.buffer, input.byteOffset, input.byteLength)
    pos = 0
    records = []
    try {
      const value = read()
      if (pos !== input.length) fail(`${input.length - pos} bytes after the value`)
      return value
    } finally {
      // Not kept past the call: the input may be large.
      src = empty
      view = emptyView
    }
  }
}
