/**
 * The objects of one domain on one node. The most recently written (or read) `hotLimit` objects
 * stay decoded; the rest are kept encoded (msgpack, as snapshots carry them) in an `Arena`, and
 * decoded again when asked for. This is Hazelcast's BINARY in-memory format with a small
 * OBJECT-format cache in front: 100,000 objects of ~110 B of JSON grew a peer by 147 MB as JS
 * objects, mostly headers, pointers and the collector's headroom. A workload that keeps patching
 * the same objects (the throughput benchmark's 1,000) never leaves the decoded set and pays
 * nothing; a put-once object is encoded once, when it leaves it.
 *
 * A snapshot can take the encoded records as they are (`capture`): they are exactly what
 * `encodeValue(toSnapshotObject(o))` gives, so cold objects are copied, not encoded.
 */
import { decodeValue, encodeValue } from '../wire/codec.js'
import { Arena } from './arena.js'
import { deepFreeze } from './freeze.js'
import type { StoredObject } from './objects.js'

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

export function toSnapshotObject(o: StoredObject): SnapshotObject {
  const s: SnapshotObject = { value: o.value, version: o.version, base: o.base }
  if (o.paths?.length) s.paths = o.paths.map((e) => [e.path as (string | number)[], e.version])
  return s
}

export function fromSnapshotObject(s: SnapshotObject): StoredObject {
  const obj: StoredObject = s.paths
    ? { value: s.value, version: s.version, base: s.base, paths: s.paths.map((e) => (e.length === 3 ? { path: e[1], version: e[2] } : { path: e[0], version: e[1] })) }
    : { value: s.value, version: s.version, base: s.base }
  return deepFreeze(obj)
}

/** Decoded objects kept per domain: 64 domains on a node keep at most 4,096 in all. */
export const HOT_OBJECTS = 64
/** The arena is rewritten once dead records outweigh live ones, and are more than this. */
const MIN_DEAD_BYTES = 64 * 1024

/** An object as a snapshot captures it: decoded, or its encoded record (never changed later). */
export type Captured = StoredObject | Uint8Array

export class ObjectTable implements Iterable<[string, StoredObject]> {
  /** Decoded objects, least recently written or read first. One not in `cold` is newer than any record. */
  private readonly hot = new Map<string, StoredObject>()
  /** Where each encoded object's record is. */
  private cold = new Map<string, number>()
  private arena = new Arena()
  private liveBytes = 0
  private count = 0

  constructor(private readonly hotLimit = HOT_OBJECTS) {}

  get size(): number {
    return this.count
  }

  /** Bytes the encoded objects take, dead records not yet reclaimed included. */
  get encodedBytes(): number {
    return this.arena.bytes
  }

  get(id: string): StoredObject | undefined {
    const obj = this.hot.get(id)
    if (obj) return obj
    const loc = this.cold.get(id)
    if (loc === undefined) return undefined
    const read = decodeRecord(this.arena.view(loc))
    this.hot.set(id, read)
    this.evict()
    return read
  }

  set(id: string, obj: StoredObject): void {
    const wasHot = this.hot.delete(id)
    if (!this.forgetRecord(id) && !wasHot) this.count++
    this.hot.set(id, obj)
    this.evict()
  }

  /** Adds objects straight to the encoded set: a snapshot arriving is not what is being used. */
  setEncoded(id: string, obj: SnapshotObject): void {
    const wasHot = this.hot.delete(id)
    if (!this.forgetRecord(id) && !wasHot) this.count++
    this.store(id, encodeValue(obj))
  }

  delete(id: string): boolean {
    const wasHot = this.hot.delete(id)
    const had = this.forgetRecord(id) || wasHot
    if (had) this.count--
    return had
  }

  /** Every object as it is now; the records are views that later writes never change. */
  capture(): [string, Captured][] {
    const out: [string, Captured][] = [...this.hot]
    for (const [id, loc] of this.cold) if (!this.hot.has(id)) out.push([id, this.arena.view(loc)])
    return out
  }

  *[Symbol.iterator](): IterableIterator<[string, StoredObject]> {
    for (const [id, c] of this.capture()) yield [id, c instanceof Uint8Array ? decodeRecord(c) : c]
  }

  /** Encodes the least recently used decoded objects beyond the limit. */
  private evict(): void {
    while (this.hot.size > this.hotLimit) {
      const [id, obj] = this.hot.entries().next().value as [string, StoredObject]
      this.hot.delete(id)
      if (!this.cold.has(id)) this.store(id, encodeValue(toSnapshotObject(obj)))
    }
  }

  private store(id: string, record: Uint8Array): void {
    this.cold.set(id, this.arena.add(record))
    this.liveBytes += Arena.cost(record)
    const dead = this.arena.bytes - this.liveBytes
    if (dead > this.liveBytes && dead > MIN_DEAD_BYTES) this.compact()
  }

  /** Drops the record of `id` (it is rewritten or gone); true if there was one. */
  private forgetRecord(id: string): boolean {
    const loc = this.cold.get(id)
    if (loc === undefined) return false
    this.liveBytes -= Arena.cost(this.arena.view(loc))
    this.cold.delete(id)
    return true
  }

  /** Copies the live records into a fresh arena; views of the old one stay valid for their holders. */
  private compact(): void {
    const fresh = new Arena()
    const cold = new Map<string, number>()
    for (const [id, loc] of this.cold) cold.set(id, fresh.add(this.arena.view(loc)))
    this.arena = fresh
    this.cold = cold
    this.liveBytes = fresh.bytes
  }
}

export function decodeRecord(bytes: Uint8Array): StoredObject {
  return fromSnapshotObject(decodeValue(bytes) as SnapshotObject)
}
