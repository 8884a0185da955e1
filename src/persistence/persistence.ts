/**
 * A domain replica on disk: a snapshot plus log segments written after it.
 *   ['dom', D, 'snap']          the snapshot (objects and the seq it covers)
 *   ['dom', D, 'seg', FIRSTSEQ] one segment: the entries of one group commit, as their wire
 *                               tuples (log.ts); segments written before 0.3 hold entry objects,
 *                               and both read back
 * Each group commit is one storage write, whatever the number of entries. Compaction writes a new
 * snapshot and deletes the segments it covers in one batch, once the segments pass `compactBytes`.
 */
import { DomainMeshError } from '../errors.js'
import { seal, sealInPlace, unseal } from '../storage/checksum.js'
import type { Storage } from '../storage/storage.js'
import { decodeValue, encodeValue } from '../wire/codec.js'
import { snapshotElements } from '../wire/msgpack-skip.js'
import { DomainState, type Snapshot } from '../replication/domain-state.js'
import { acceptWireEntry, toWireEntry, type LogEntry } from '../replication/log.js'
import { encodeSnapshot } from './snapshot-encoder.js'
import { scanSnapshot } from './snapshot-scan.js'

export class CorruptReplicaError extends DomainMeshError {
  constructor(domain: number, why: string) {
    super('CORRUPT_REPLICA', `stored replica of domain ${domain} is unusable: ${why}`, { domain })
  }
}

const SEQ_DIGITS = 15
const pad = (n: number): string => String(n).padStart(SEQ_DIGITS, '0')
const domKey = (d: number): string[] => ['dom', String(d)]
const segKey = (d: number, firstSeq: number): string[] => [...domKey(d), 'seg', pad(firstSeq)]

const MANY_SEGMENTS = 32

export class DomainPersistence {
  /**
   * The first seq of each stored segment. Numbers, not keys: a segment key is an array of four
   * strings, held for every segment of every domain on a peer at rest.
   */
  private segments: number[] = []
  private segmentBytes = 0
  private snapshotBytes = 0

  constructor(
    private readonly storage: Storage,
    readonly domain: number,
    private readonly compactBytes: number,
    /** Lets other work run between the groups of a big snapshot's encoding. */
    private readonly pause: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Domains that have anything stored on this node. */
  static async storedDomains(storage: Storage): Promise<number[]> {
    const found = new Set<number>()
    for (const e of await storage.list(['dom'])) found.add(Number(e.key[1]))
    return [...found].sort((a, b) => a - b)
  }

  /** Loads the replica, or returns undefined if nothing is stored. */
  async load(): Promise<DomainState | undefined> {
    const entries = await this.storage.list(domKey(this.domain))
    if (entries.length === 0) return undefined
    let state = new DomainState(this.domain)
    try {
      const snap = entries.find((e) => e.key[2] === 'snap')
      if (snap) {
        const bytes = this.open(snap.value, 'snapshot')
        // Checked as bytes where it can be: a stored snapshot need not be decoded object by object.
        state = DomainState.fromSnapshot(this.domain, scanSnapshot(bytes) ?? { ...(decodeValue(bytes) as Snapshot), records: snapshotElements(bytes) })
        this.snapshotBytes = snap.value.byteLength
      }
      for (const e of entries.filter((x) => x.key[2] === 'seg')) {
        const first = Number(e.key[3])
        if (!Number.isSafeInteger(first) || pad(first) !== e.key[3]) throw new Error(`log segment key ${e.key[3]} is not a padded seq`)
        this.segments.push(first)
        this.segmentBytes += e.value.byteLength
        const batch = decodeValue(this.open(e.value, `log segment ${e.key[3]}`))
        if (!Array.isArray(batch)) throw new Error(`log segment ${e.key[3]} is not a list of entries`)
        for (const stored of batch as unknown[]) {
          const entry = Array.isArray(stored) ? acceptWireEntry(stored) : (stored as LogEntry)
          if (!entry) throw new Error(`log segment ${e.key[3]} holds an entry that is no log entry`)
          if (entry.seq <= state.lastSeq) continue
          if (entry.seq !== state.lastSeq + 1) throw new Error(`log jumps from ${state.lastSeq} to ${entry.seq}`)
          state.apply(entry)
        }
      }
    } catch (err) {
      throw new CorruptReplicaError(this.domain, (err as Error).message)
    }
    return state
  }

  private open(record: Uint8Array, what: string): Uint8Array {
    const payload = unseal(record)
    if (!payload) throw new Error(`${what} fails its checksum (truncated or garbled)`)
    return payload
  }

  /** Writes one group commit. */
  async append(entries: readonly LogEntry[]): Promise<void> {
    if (entries.length === 0) return
    const first = entries[0]!.seq
    // Tuples, not objects: a third of the bytes to write and checksum, and a third of the
    // encoding time (a one-field patch: 33 bytes against 97).
    const bytes = seal(encodeValue(entries.map(toWireEntry)))
    await this.storage.put(segKey(this.domain, first), bytes)
    this.segments.push(first)
    this.segmentBytes += bytes.byteLength
  }

  /**
   * Compacting once the segments outgrow the snapshot keeps the write cost of snapshots at most
   * 2x. A small domain also compacts once it has many segments and they are an eighth of its
   * snapshot: each segment is a key, and thousands of tiny keys cost more to keep (a file each, in
   * Node) than rewriting a small snapshot now and then.
   */
  needsCompaction(): boolean {
    if (this.segmentBytes > Math.max(this.compactBytes, this.snapshotBytes)) return true
    return this.segments.length >= MANY_SEGMENTS && this.segmentBytes * 8 > this.snapshotBytes
  }

  /** Replaces snapshot and segments by a snapshot of `state` (which must include every appended entry). */
  async writeSnapshot(state: DomainState): Promise<number> {
    // Encoded with room for the checksum in front: one copy of the domain, not two.
    const bytes = sealInPlace(await encodeSnapshot(state, this.pause, undefined, 4))
    const old = this.segments
    await this.storage.batch([{ type: 'put', key: [...domKey(this.domain), 'snap'], value: bytes }, ...old.map((first) => ({ type: 'delete' as const, key: segKey(this.domain, first) }))])
    this.segments = []
    this.segmentBytes = 0
    this.snapshotBytes = bytes.byteLength
    return bytes.byteLength
  }

  /** Forgets this domain on this node (it moved elsewhere). */
  async drop(): Promise<void> {
    await this.storage.removeRange(domKey(this.domain))
    this.segments = []
    this.segmentBytes = 0
  }
}
