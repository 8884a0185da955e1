/**
 * An object's record: how snapshots carry a stored object and how an ObjectTable keeps a cold one
 * (msgpack, one array per object). Since wire protocol 3 a record is the flat tuple
 * [id, value, version, base, paths?]. Before, it was [id, { value, version, base, paths? }]: the
 * map's four key names were 21 of the ~110 bytes an object of the benchmark took, 2.1 MB per
 * 100,000 objects held, on the wire and on disk too. Snapshots stored in the older form are still
 * read (their objects are encoded anew as they are loaded); it is never written.
 */
import { decodeValue, encodeValue } from '../wire/codec.js'
import { deepFreeze } from './objects.js'
import { hashId } from './record-index.js'
import { listOf, pathVersions, type StoredObject } from './objects.js'

/** An object as the older pair form carried it, and as `fromSnapshotObject` takes it. */
export interface SnapshotObject {
  value: unknown
  version: number
  base: number
  /**
   * [path, version] per patched sub-element. Snapshots written before 2026-11-25 also carry the
   * path as a JSON key first ([key, path, version]); both forms are read. Dropping the key made
   * a snapshot 30 % cheaper to encode: JSON.stringify of every path was its largest cost.
   */
  paths?: SnapshotPath[]
}
export type SnapshotPath = [path: (string | number)[], version: number] | [key: string, path: (string | number)[], version: number]

/** A record decoded: the tuple written since protocol 3. */
export type ObjectRecord =
  | readonly [id: string, value: unknown, version: number, base: number]
  | readonly [id: string, value: unknown, version: number, base: number, paths: SnapshotPath[]]
/** A record in the older form, read from snapshots written before protocol 3. */
export type PairRecord = readonly [id: string, obj: SnapshotObject]
/** An element of a snapshot's `objects`, in either form. */
export type SnapshotElement = ObjectRecord | PairRecord

export function toRecord(id: string, o: StoredObject): ObjectRecord {
  if (!o.paths) return [id, o.value, o.version, o.base]
  return [id, o.value, o.version, o.base, pathVersions(o.paths).map((e): SnapshotPath => [e.path as (string | number)[], e.version])]
}

export const encodeRecord = (id: string, o: StoredObject): Uint8Array => encodeValue(toRecord(id, o))

/** The object an element of either form holds, as the older pair form named its parts. */
export function elementObject(e: SnapshotElement): SnapshotObject {
  if (e.length === 2) return e[1]
  return e.length === 5 ? { value: e[1], version: e[2], base: e[3], paths: e[4] } : { value: e[1], version: e[2], base: e[3] }
}

/** An element of either form in the current form (what an ObjectTable stores). */
export function toCurrentRecord(e: SnapshotElement): ObjectRecord {
  if (e.length !== 2) return e
  const s = e[1]
  return s.paths ? [e[0], s.value, s.version, s.base, s.paths] : [e[0], s.value, s.version, s.base]
}

export function fromSnapshotObject(s: SnapshotObject): StoredObject {
  const obj: StoredObject = s.paths
    ? { value: s.value, version: s.version, base: s.base, paths: listOf(byVersion(s.paths)) }
    : { value: s.value, version: s.version, base: s.base }
  return deepFreeze(obj)
}

/**
 * Oldest first, as the list wants them (objects.ts): a newer entry shadows older ones below it,
 * so the order must be the order of the writes, whatever order a snapshot kept them in.
 */
function byVersion(paths: SnapshotPath[]): { path: (string | number)[]; version: number }[] {
  return paths.map((e) => (e.length === 3 ? { path: e[1], version: e[2] } : { path: e[0], version: e[1] })).sort((a, b) => a.version - b.version)
}

/** A record's [id, object], decoded (either form). */
export function decodeRecord(bytes: Uint8Array): [string, StoredObject] {
  const e = decodeValue(bytes) as SnapshotElement
  return [e[0], fromSnapshotObject(elementObject(e))]
}

/**
 * Whether `bytes` can serve as the record of `id` in an ObjectTable: a tuple of four or five in
 * the current form whose first element is `id`, the form every lookup relies on. A snapshot's
 * elements from elsewhere are checked so; the older pair form is not kept as it came.
 */
export function isRecordOf(bytes: Uint8Array, id: string): boolean {
  const h = bytes[1]
  if ((bytes[0] !== 0x94 && bytes[0] !== 0x95) || h === undefined || !((h & 0xe0) === 0xa0 || (h >= 0xd9 && h <= 0xdb))) return false
  return recordHasId(bytes, id)
}

/** Where the id's UTF-8 bytes are in a record (after the tuple's header and the string's). */
function idBytes(record: Uint8Array): { at: number; length: number } {
  const h = record[1]!
  if ((h & 0xe0) === 0xa0) return { at: 2, length: h & 0x1f }
  if (h === 0xd9) return { at: 3, length: record[2]! }
  if (h === 0xda) return { at: 4, length: (record[2]! << 8) | record[3]! }
  if (h === 0xdb) return { at: 6, length: ((record[2]! << 24) | (record[3]! << 16) | (record[4]! << 8) | record[5]!) >>> 0 }
  throw new Error(`not an object record (byte ${h} where the id starts)`)
}

/** hashId of the record's id, without decoding it when it is ASCII (as ids mostly are). */
export function recordIdHash(record: Uint8Array): number {
  const { at, length } = idBytes(record)
  let h = 0x811c9dc5
  for (let i = at; i < at + length; i++) {
    const c = record[i]!
    if (c >= 0x80) return hashId(decodeValue(record.subarray(1, at + length)) as string)
    h = Math.imul(h ^ c, 0x01000193)
  }
  return h | 0
}

/** Compares without decoding: ids are mostly ASCII, where each UTF-16 unit is one byte. */
export function recordHasId(record: Uint8Array, id: string): boolean {
  const { at, length } = idBytes(record)
  if (length === id.length) {
    for (let i = 0; i < length; i++) {
      const c = id.charCodeAt(i)
      if (c >= 0x80 || record[at + i] !== c) return false
    }
    return true
  }
  if (length < id.length) return false
  // Encoded as encodeValue encodes it, lone surrogates included.
  const want = encodeValue(id)
  if (want.length !== at - 1 + length) return false
  for (let i = 0; i < want.length; i++) if (record[1 + i] !== want[i]) return false
  return true
}
