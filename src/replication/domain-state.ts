/**
 * The data of one domain on one node: its objects, the highest `seq` applied, and the log tail
 * since the last snapshot (what a lagging backup is sent as deltas). Pure data: no I/O.
 */
import { DomainMeshError } from '../errors.js'
import { decodeLog, encodeLog, type LogEntry } from './log.js'
import { decodeValue } from '../wire/codec.js'
import { applyChange, type StoredObject } from '../objects/objects.js'
import { ObjectTable, type Captured } from '../objects/object-table.js'
import { isRecordOf, toCurrentRecord, toRecord, type ObjectRecord, type SnapshotElement } from '../objects/object-record.js'
import type { ScannedSnapshot } from '../persistence/snapshot-scan.js'

export const objectId = (vs: string, key: string): string => `${vs}\u0000${key}`

export interface Snapshot {
  readonly seq: number
  /** Epoch of the entry at `seq`, so log matching works across a snapshot. */
  readonly epoch: number
  /** Records (object-record.ts); the older pair form in snapshots written before protocol 3. */
  readonly objects: readonly SnapshotElement[]
  /**
   * The bytes each object arrived as, index for index (`snapshotElements`): taken as records
   * where they check out, so a received or loaded snapshot is not encoded again.
   */
  readonly records?: readonly Uint8Array[] | undefined
}

/** A snapshot as a state takes it in: decoded, or checked as bytes (snapshot-scan.ts). */
export type IncomingSnapshot = Snapshot | ScannedSnapshot

export class OutOfOrderError extends DomainMeshError {
  constructor(domain: number, expected: number, got: number) {
    super('OUT_OF_ORDER', `domain ${domain}: expected seq ${expected}, got ${got}`, { domain, expected, got })
  }
}

export class DomainState {
  readonly objects = new ObjectTable()
  lastSeq = 0
  lastEpoch = 0
  /** The log holds every entry after `logStart`; `logStartEpoch` is the epoch of the entry at logStart. */
  logStart = 0
  logStartEpoch = 0
  /**
   * The first `frozenCount` entries of the log, encoded by `cool` (a quiet domain), else
   * undefined; `recent` holds the entries after them, as applied.
   */
  private frozen: Uint8Array | undefined
  private frozenCount = 0
  private recent: LogEntry[] = []

  constructor(readonly domain: number) {}

  get(vs: string, key: string): StoredObject | undefined {
    return this.objects.get(objectId(vs, key))
  }

  /** Applies the next entry in order. Throws (and changes nothing) if it does not apply. */
  apply(entry: LogEntry): void {
    if (entry.seq !== this.lastSeq + 1) throw new OutOfOrderError(this.domain, this.lastSeq + 1, entry.seq)
    const id = objectId(entry.vs, entry.key)
    const next = applyChange(entry.key, this.objects.get(id), entry.change, entry.seq)
    if (next) this.objects.set(id, next)
    else this.objects.delete(id)
    this.lastSeq = entry.seq
    this.lastEpoch = entry.epoch
    this.recent.push(entry)
  }

  /** How many entries the log holds in memory (after `logStart`). */
  get logLength(): number {
    return this.frozenCount + this.recent.length
  }

  /** Log entries held decoded (the rest, if any, are encoded: `cool`). */
  get decodedEntries(): number {
    return this.recent.length
  }

  /** Epoch of the entry at `seq`, or undefined if it is no longer in the log. */
  epochAt(seq: number): number | undefined {
    if (seq === this.logStart) return this.logStartEpoch
    if (seq < this.logStart || seq > this.lastSeq) return undefined
    if (seq === this.lastSeq) return this.lastEpoch
    if (seq <= this.logStart + this.frozenCount) this.thaw()
    return this.recent[seq - this.logStart - this.frozenCount - 1]?.epoch
  }

  /** Entries after `seq`, or undefined if some of them are no longer in the log. */
  entriesAfter(seq: number): LogEntry[] | undefined {
    if (seq < this.logStart || seq > this.lastSeq) return undefined
    if (seq < this.logStart + this.frozenCount) this.thaw()
    return this.recent.slice(seq - this.logStart - this.frozenCount)
  }

  /**
   * Keeps what a quiet domain holds encoded: its log (one msgpack array) and its decoded objects
   * (into the arena). Both are caches for writes to come, and decoded they take several times the
   * memory they take encoded (docs/design.md, "Numbers behind the code"). Anything that needs the
   * entries decodes them again.
   */
  cool(): void {
    this.objects.cool()
    if (this.recent.length === 0) return
    const all = this.frozen ? [...this.thawed(), ...this.recent] : this.recent
    this.frozen = encodeLog(all)
    this.frozenCount = all.length
    this.recent = []
  }

  private thaw(): void {
    if (!this.frozen) return
    this.recent = [...this.thawed(), ...this.recent]
    this.frozen = undefined
    this.frozenCount = 0
  }

  private thawed(): LogEntry[] {
    const entries = decodeLog(this.frozen!)
    if (entries.length !== this.frozenCount) throw new Error(`domain ${this.domain}: frozen log holds ${entries.length} entries, not ${this.frozenCount}`)
    return entries
  }

  snapshot(): Snapshot {
    const objects: ObjectRecord[] = []
    for (const [id, o] of this.objects) objects.push(toRecord(id, o))
    return { seq: this.lastSeq, epoch: this.lastEpoch, objects }
  }

  /** The objects as they are now, by reference (they are immutable): a snapshot to encode later. */
  capture(): { seq: number; epoch: number; objects: Captured[] } {
    return { seq: this.lastSeq, epoch: this.lastEpoch, objects: this.objects.capture() }
  }

  /**
   * Forgets the log up to the current seq (it is covered by a snapshot now), but keeps the last
   * `keep` entries in memory so that a backup that lags a little still catches up by deltas.
   */
  truncateLog(keep: number): void {
    const drop = Math.max(0, this.logLength - keep)
    if (drop === 0) return
    this.thaw()
    const last = this.recent[drop - 1]!
    this.logStart = last.seq
    this.logStartEpoch = last.epoch
    this.recent = this.recent.slice(drop)
  }

  static fromSnapshot(domain: number, snap: IncomingSnapshot): DomainState {
    const d = DomainState.empty(domain, snap.seq, snap.epoch)
    d.addSnapshotObjects(snap)
    return d
  }

  /** A state at `seq` with no objects yet: a snapshot that arrives in parts is put together in it. */
  static empty(domain: number, seq: number, epoch: number): DomainState {
    const d = new DomainState(domain)
    d.lastSeq = d.logStart = seq
    d.lastEpoch = d.logStartEpoch = epoch
    return d
  }

  addSnapshotObjects(snap: IncomingSnapshot): void {
    if ('scanned' in snap) {
      // A record must be in the form lookups compare ids in (see isRecordOf), else encoded anew.
      for (const [id, record] of snap.scanned) {
        if (isRecordOf(record, id)) this.objects.setRecord(id, record)
        else this.objects.setEncoded(id, toCurrentRecord(decodeValue(record) as SnapshotElement))
      }
      return
    }
    const { objects, records } = snap
    const bytes = records?.length === objects.length ? records : undefined
    for (let i = 0; i < objects.length; i++) {
      const element = objects[i]!
      const id = element[0]
      const record = bytes?.[i]
      if (record && isRecordOf(record, id)) this.objects.setRecord(id, record)
      else this.objects.setEncoded(id, toCurrentRecord(element))
    }
  }
}
