/**
 * Checks an encoded snapshot without decoding its objects' values. A received snapshot part (or a
 * stored snapshot being loaded) was decoded whole and run through its schema, only to keep each
 * object's bytes as its record: about ten JS objects of garbage per stored object received.
 *
 * The scan takes the snapshot's layout (msgpack-skip.ts: one walk, values skipped) and decodes
 * only what the schema checks: each record's id, version, base and paths. A value is any
 * msgpack value without an extension type, which is what its schema (`unknown`) and the records'
 * plain form require. Anything the scan does not follow (an extension type, a key that is not a
 * string, a number that is not a safe unsigned integer) returns undefined, and the caller decodes
 * the snapshot the old way, whose schema then names what is wrong.
 */
import * as v from '../util/schema.js'
import { decodeValue } from '../wire/codec.js'
import { declining, header, skipValue, snapshotLayout, stringAt } from '../wire/msgpack-skip.js'

export const Seq = v.pipe(v.number(), v.integer(), v.minValue(0))
const Path = v.array(v.union([v.string(), v.number()]))
/** [path, version], or the older [key, path, version] (see SnapshotObject.paths). */
export const SnapshotPath = v.union([v.tuple([Path, Seq]), v.tuple([v.string(), Path, Seq])])
const Paths = v.array(SnapshotPath)

/** A snapshot whose records were checked by `scanSnapshot`: [id, record] per object. */
export interface ScannedSnapshot {
  readonly seq: number
  readonly epoch: number
  readonly scanned: readonly (readonly [id: string, record: Uint8Array])[]
}

export const scanSnapshot = (bytes: Uint8Array): ScannedSnapshot | undefined => declining(() => scan(bytes))

function scan(bytes: Uint8Array): ScannedSnapshot | undefined {
  const found = snapshotLayout(bytes)
  if (!found) return undefined
  const number = (key: string) => {
    const f = found.fields.get(key)
    return f && uintAt(bytes, f.at, f.end)
  }
  const seq = number('seq')
  const epoch = number('epoch')
  if (seq === undefined || epoch === undefined) return undefined
  const scanned: [string, Uint8Array][] = []
  for (const record of found.elements) {
    const id = recordId(record, 0, record.length)
    if (id === undefined) return undefined
    scanned.push([id, record])
  }
  return { seq, epoch, scanned }
}

/**
 * The id of the record between `at` and `end` if it is one: [id, value, version, base, paths?]
 * (object-record.ts), or the older [id, { value, version, base, paths? }] (other keys of its map
 * are ignored, as the schema ignores them), with version and base unsigned integers and paths as
 * SnapshotPath lists.
 */
function recordId(bytes: Uint8Array, at: number, end: number): string | undefined {
  const form = bytes[at]
  if (form !== 0x92 && form !== 0x94 && form !== 0x95) return undefined
  const id = textAt(bytes, at + 1)
  if (!id) return undefined
  const fields = form === 0x92 ? pairFields(bytes, id.end) : tupleFields(bytes, id.end, form === 0x95)
  return fields && fields.end === end ? id.text : undefined
}

/** [value, version, base, paths?] from `at`: where it ends, if each part is what the schema takes. */
function tupleFields(bytes: Uint8Array, at: number, withPaths: boolean): { end: number } | undefined {
  let pos = skipValue(bytes, at, true)
  for (let i = 0; i < 2; i++) {
    const stop = skipValue(bytes, pos, true)
    if (uintAt(bytes, pos, stop) === undefined) return undefined
    pos = stop
  }
  if (!withPaths) return { end: pos }
  const stop = skipValue(bytes, pos, true)
  return v.is(Paths, decodeValue(bytes.subarray(pos, stop))) ? { end: stop } : undefined
}

/** The older form's { value, version, base, paths? } map from `at`: where it ends, if valid. */
function pairFields(bytes: Uint8Array, at: number): { end: number } | undefined {
  const obj = header(bytes, at, 'map')
  if (!obj) return undefined
  let version: number | undefined
  let base: number | undefined
  let pos = obj.first
  for (let i = 0; i < obj.count; i++) {
    const key = pos
    pos = keyEnd(bytes, key)
    if (pos < 0) return undefined
    const stop = skipValue(bytes, pos, true)
    if (keyIs(bytes, key, 'version')) {
      if ((version = uintAt(bytes, pos, stop)) === undefined) return undefined
    } else if (keyIs(bytes, key, 'base')) {
      if ((base = uintAt(bytes, pos, stop)) === undefined) return undefined
    } else if (keyIs(bytes, key, 'paths') && !v.is(Paths, decodeValue(bytes.subarray(pos, stop)))) return undefined
    pos = stop
  }
  return version !== undefined && base !== undefined ? { end: pos } : undefined
}

/** Where the string at `at` ends; -1 if no string starts there. */
function keyEnd(bytes: Uint8Array, at: number): number {
  const b = bytes[at]
  return b !== undefined && ((b & 0xe0) === 0xa0 || (b >= 0xd9 && b <= 0xdb)) ? skipValue(bytes, at) : -1
}

/** Whether the string at `at` is `name` (short and ASCII), compared byte by byte. */
function keyIs(bytes: Uint8Array, at: number, name: string): boolean {
  if (bytes[at] !== (0xa0 | name.length)) return false
  for (let i = 0; i < name.length; i++) if (bytes[at + 1 + i] !== name.charCodeAt(i)) return false
  return true
}

/** The string at `at`: ASCII ones of up to 255 bytes read directly, others by the decoder. */
function textAt(bytes: Uint8Array, at: number): { text: string; end: number } | undefined {
  const b = bytes[at]
  const [first, length] = b !== undefined && (b & 0xe0) === 0xa0 ? [at + 1, b & 0x1f] : b === 0xd9 ? [at + 2, bytes[at + 1] ?? 0] : [0, -1]
  if (length < 0 || first + length > bytes.length) return stringAt(bytes, at)
  const units = bytes.subarray(first, first + length)
  for (const c of units) if (c >= 0x80) return stringAt(bytes, at)
  return { text: String.fromCharCode.apply(null, units as unknown as number[]), end: first + length }
}

/** The unsigned integer encoded between `at` and `end` (a safe one, as the schema's Seq), else undefined. */
function uintAt(bytes: Uint8Array, at: number, end: number): number | undefined {
  const b = bytes[at]!
  const n = end - at
  if (b <= 0x7f && n === 1) return b
  if (b === 0xcc && n === 2) return bytes[at + 1]
  if (b === 0xcd && n === 3) return (bytes[at + 1]! << 8) | bytes[at + 2]!
  if (b === 0xce && n === 5) return ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0
  if (b === 0xcf && n === 9) {
    const high = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0
    const low = ((bytes[at + 5]! << 24) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 8) | bytes[at + 8]!) >>> 0
    const value = high * 2 ** 32 + low
    return Number.isSafeInteger(value) ? value : undefined
  }
  if (b === 0xcb && n === 9) {
    // encodeValue writes integers past 2^32 as doubles.
    const value = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 8).getFloat64(0)
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  return undefined
}
