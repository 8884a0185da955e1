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
 * `encodeRecord(id, o)` gives, so cold objects are copied, not encoded.
 */
import { Arena } from './arena.js'
import { RecordIndex } from './record-index.js'
import { decodeRecord, encodeRecord, recordHasId, recordIdHash, type ObjectRecord } from './object-record.js'
import { encodeValue } from '../wire/codec.js'
import type { StoredObject } from './objects.js'

/** Decoded objects kept per domain: 64 domains on a node keep at most 4,096 in all. */
export const HOT_OBJECTS = 64
/** The arena is rewritten once dead records outweigh live ones, and are more than this. */
const MIN_DEAD_BYTES = 64 * 1024

/**
 * An object as a snapshot captures it: its id and decoded object, or its record (object-record.ts),
 * which is never changed later.
 */
export type Captured = readonly [id: string, obj: StoredObject] | Uint8Array

export class ObjectTable implements Iterable<[string, StoredObject]> {
  /** Decoded objects, least recently written or read first. One without a record is newer than any. */
  private readonly hot = new Map<string, StoredObject>()
  private arena = new Arena()
  private readonly cold = new RecordIndex(
    (loc, id) => recordHasId(this.arena.view(loc), id),
    (loc) => recordIdHash(this.arena.view(loc)),
  )
  private liveBytes = 0
  private count = 0

  constructor(private readonly hotLimit = HOT_OBJECTS) {}

  get size(): number {
    return this.count
  }

  /** Objects held decoded (at most `hotLimit`). */
  get decoded(): number {
    return this.hot.size
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
    const read = decodeRecord(this.arena.view(loc))[1]
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

  /** Adds an object straight to the encoded set: a snapshot arriving is not what is being used. */
  setEncoded(id: string, record: ObjectRecord): void {
    this.setRecord(id, encodeValue(record))
  }

  /**
   * Adds a record as it arrived (a snapshot's element, see `isRecordOf`), so a received object is
   * not encoded again. The bytes are copied into the arena: the frame they came in is not kept.
   */
  setRecord(id: string, record: Uint8Array): void {
    const wasHot = this.hot.delete(id)
    if (!this.forgetRecord(id) && !wasHot) this.count++
    this.store(id, record)
  }

  delete(id: string): boolean {
    const wasHot = this.hot.delete(id)
    const had = this.forgetRecord(id) || wasHot
    if (had) this.count--
    return had
  }

  /** Every object as it is now; the records are views that later writes never change. */
  capture(): Captured[] {
    const out: Captured[] = [...this.hot]
    // Decoded objects that also have a record are in `out` already.
    const both = new Set<number>()
    for (const id of this.hot.keys()) {
      const loc = this.cold.get(id)
      if (loc !== undefined) both.add(loc)
    }
    for (const loc of this.cold.locations()) if (!both.has(loc)) out.push(this.arena.view(loc))
    return out
  }

  *[Symbol.iterator](): IterableIterator<[string, StoredObject]> {
    for (const c of this.capture()) yield c instanceof Uint8Array ? decodeRecord(c) : [c[0], c[1]]
  }

  /** Encodes every decoded object (the domain is quiet: see DomainState.cool) and tightens the index. */
  cool(): void {
    this.evict(0)
    this.cold.tighten()
  }

  /** Encodes the least recently used decoded objects beyond the limit. */
  private evict(limit = this.hotLimit): void {
    while (this.hot.size > limit) {
      const [id, obj] = this.hot.entries().next().value as [string, StoredObject]
      this.hot.delete(id)
      if (this.cold.get(id) === undefined) this.store(id, encodeRecord(id, obj))
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
    const loc = this.cold.delete(id)
    if (loc === undefined) return false
    this.liveBytes -= Arena.cost(this.arena.view(loc))
    return true
  }

  /**
   * Copies the live records into a fresh arena of just their size; views of the old one stay valid
   * for their holders.
   */
  private compact(): void {
    const old = this.arena
    const { arena, locations } = Arena.pack(Array.from(this.cold.locations(), (loc) => old.view(loc)))
    let i = 0
    this.cold.relocate(() => locations[i++]!)
    this.arena = arena
    this.liveBytes = arena.bytes
  }
}
