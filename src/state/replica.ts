/**
 * One domain's replica on this node, as primary or backup.
 *
 * Primary: a write is checked, applied, given the next seq, then persisted (group commit) and
 * streamed to the backups at the same time; it is acknowledged once it is on disk here and every
 * required backup has acked it. Acks are cumulative (`upTo`), so many writes are in flight at once.
 * Backup: entries are applied strictly in seq order; gaps are buffered and asked for again; the
 * ack goes out after the entries are on disk. Every message carries the view epoch: an older one is
 * refused with a nack, and a primary that gets a nack from a newer epoch stops acking writes.
 */
import { ClosedError, TimeoutError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import { DomainState } from './domain-state.js'
import { NotPrimaryError, StaleEpochError } from './errors.js'
import type { LogEntry } from './log.js'
import type { AckMsg, AppendMsg, NackMsg, ReplMessage, ResendMsg } from './messages.js'
import { checkCas, type Change, type StoredObject } from './objects.js'
import type { DomainPersistence } from './persistence.js'
import type { Snapshot } from './domain-state.js'

export interface WriteResult {
  /** The write's place in its domain's order; also the new version of what it wrote. */
  seq: number
  /** Copies holding the write when it was acknowledged (primary included). */
  replicas: number
}

export interface ReplicaHooks {
  send(to: NodeId, msg: ReplMessage): void
  committed(domain: number, entries: readonly LogEntry[]): void
  snapshotSent(domain: number, to: NodeId): void
  snapshotInstalled(domain: number, from: NodeId): void
  failed(domain: number, error: unknown): void
}

export interface ReplicaConfig {
  clock: Clock
  hooks: ReplicaHooks
  /** 'all' live backups, or a number of them. */
  writeAcks: 'all' | number
  writeTimeoutMs: number
  resendAfterMs: number
  /** Log entries kept in memory after a compaction, for delta catch-up. */
  retainEntries: number
}

interface Waiter {
  seq: number
  resolve(r: WriteResult): void
  reject(e: unknown): void
  timer: TimerHandle
}

export class DomainReplica {
  role: 'primary' | 'backup' = 'backup'
  epoch = 0
  /** Primary: the live backups; backup: the primary it follows. */
  backups: NodeId[] = []
  primary: NodeId | undefined
  committedSeq = 0
  private acked = new Map<NodeId, number>()
  private waiting: Waiter[] = []
  private readers: { seq: number; resolve(): void }[] = []
  private fencedBy = 0
  private persistedSeq: number
  private unpersisted: LogEntry[] = []
  private installSnapshot = false
  private flushPromise: Promise<void> | undefined
  private outbound: LogEntry[] = []
  private outboundScheduled = false
  private gap = new Map<number, LogEntry>()
  private resendTimer: TimerHandle | undefined
  private probeTimer: TimerHandle | undefined
  /** Primary after a promotion: writes wait until the replica has what the survivors have. */
  ready: Promise<void> = Promise.resolve()

  constructor(
    public state: DomainState,
    private readonly persistence: DomainPersistence,
    private readonly cfg: ReplicaConfig,
  ) {
    this.persistedSeq = state.lastSeq
  }

  get domain(): number {
    return this.state.domain
  }

  // ---- primary ----

  async write(vs: string, key: string, change: Change, ifVersion: number | undefined): Promise<WriteResult> {
    await this.ready
    if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    if (this.fencedBy > this.epoch) throw new StaleEpochError(this.domain, this.epoch, this.fencedBy)
    if (ifVersion !== undefined) checkCas(key, this.state.get(vs, key), change, ifVersion)
    const entry: LogEntry = { seq: this.state.lastSeq + 1, epoch: this.epoch, vs, key, change }
    this.state.apply(entry)
    this.persist(entry)
    this.replicate(entry)
    return new Promise((resolve, reject) => {
      const timer = this.cfg.clock.setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w.seq !== entry.seq)
        reject(new TimeoutError(`write ${entry.seq} to domain ${this.domain} waiting for backups`, this.cfg.writeTimeoutMs))
      }, this.cfg.writeTimeoutMs)
      this.waiting.push({ seq: entry.seq, resolve, reject, timer })
      this.checkCommits()
      this.armProbe()
    })
  }

  /**
   * While writes wait for acks, probe the backups every `resendAfterMs`: if an append or an ack was
   * lost, the probe makes the backup ask for what it lacks or repeat its ack.
   */
  private armProbe(): void {
    if (this.probeTimer || this.waiting.length === 0) return
    this.probeTimer = this.cfg.clock.setTimeout(() => {
      this.probeTimer = undefined
      if (this.role !== 'primary' || this.waiting.length === 0) return
      this.probeBackups()
      this.armProbe()
    }, this.cfg.resendAfterMs)
  }

  /** A read on the primary sees only committed data: it waits for a pending write to the object. */
  async readCommitted(vs: string, key: string): Promise<StoredObject | undefined> {
    await this.ready
    if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    const obj = this.state.get(vs, key)
    const needed = obj?.version ?? this.state.lastSeq
    if (needed > this.committedSeq) {
      await new Promise<void>((resolve) => this.readers.push({ seq: needed, resolve }))
      if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    }
    return this.state.get(vs, key)
  }

  private replicate(entry: LogEntry | undefined): void {
    if (entry) this.outbound.push(entry)
    if (this.outboundScheduled) return
    this.outboundScheduled = true
    queueMicrotask(() => {
      this.outboundScheduled = false
      const entries = this.outbound
      this.outbound = []
      if (this.role !== 'primary') return
      for (const b of this.backups) this.cfg.hooks.send(b, { type: 'append', domain: this.domain, epoch: this.epoch, head: this.state.lastSeq, entries })
    })
  }

  /** Tells every backup where the log ends, so any that lag ask for what they lack. */
  probeBackups(): void {
    this.replicate(undefined)
  }

  onAck(from: NodeId, msg: AckMsg): void {
    if (msg.upTo > (this.acked.get(from) ?? 0)) this.acked.set(from, msg.upTo)
    this.checkCommits()
  }

  onNack(msg: NackMsg): void {
    if (msg.epoch <= this.epoch) return
    this.fencedBy = Math.max(this.fencedBy, msg.epoch)
    this.failWaiting(new StaleEpochError(this.domain, this.epoch, msg.epoch))
  }

  onResend(from: NodeId, msg: ResendMsg): void {
    if (this.role !== 'primary') return
    const agrees = !msg.snapshot && msg.after <= this.state.lastSeq && this.state.epochAt(msg.after) === msg.afterEpoch
    const entries = agrees ? this.state.entriesAfter(msg.after) : undefined
    if (entries) {
      this.cfg.hooks.send(from, { type: 'append', domain: this.domain, epoch: this.epoch, head: this.state.lastSeq, entries })
    } else {
      this.cfg.hooks.snapshotSent(this.domain, from)
      this.cfg.hooks.send(from, { type: 'snapshot', domain: this.domain, epoch: this.epoch, snapshot: this.state.snapshot() as ReplSnapshot })
    }
  }

  private checkCommits(): void {
    if (this.role !== 'primary') return
    const live = this.backups
    const need = this.cfg.writeAcks === 'all' ? live.length : Math.min(this.cfg.writeAcks, live.length)
    const acks = live.map((b) => this.acked.get(b) ?? 0).sort((a, b) => b - a)
    const replicated = need === 0 ? Number.POSITIVE_INFINITY : acks[need - 1]!
    const commitTo = Math.min(this.persistedSeq, replicated)
    if (commitTo > this.committedSeq) {
      const from = this.committedSeq
      this.committedSeq = commitTo
      const entries = this.state.entriesAfter(from)?.filter((e) => e.seq <= commitTo) // undefined only if compacted meanwhile
      if (entries?.length) this.cfg.hooks.committed(this.domain, entries)
    }
    while (this.waiting.length && this.waiting[0]!.seq <= this.committedSeq) {
      const w = this.waiting.shift()!
      this.cfg.clock.clearTimeout(w.timer)
      w.resolve({ seq: w.seq, replicas: 1 + acks.filter((a) => a >= w.seq).length })
    }
    this.readers = this.readers.filter((r) => (r.seq <= this.committedSeq ? (r.resolve(), false) : true))
  }

  failWaiting(err: unknown): void {
    for (const w of this.waiting) {
      this.cfg.clock.clearTimeout(w.timer)
      w.reject(err)
    }
    this.waiting = []
  }

  // ---- backup ----

  onAppend(from: NodeId, msg: AppendMsg): void {
    if (this.role === 'primary') {
      // Another node streams this domain: whoever has the older epoch must stop.
      if (msg.epoch > this.epoch) this.onNack({ domain: this.domain, epoch: msg.epoch })
      else this.cfg.hooks.send(from, { type: 'nack', domain: this.domain, epoch: this.epoch })
      return
    }
    if (!this.acceptEpoch(from, msg.epoch)) return
    for (const e of msg.entries as LogEntry[]) if (e.seq > this.state.lastSeq) this.gap.set(e.seq, e)
    this.drain(from)
    if (this.gap.size > 0 || msg.head > this.state.lastSeq) this.askResend(from)
    // Nothing new to persist (a probe, or duplicates): say where we are now.
    if (!this.flushPromise) this.ack()
  }

  onSnapshot(from: NodeId, snapshot: Snapshot, epoch: number): void {
    if (!this.acceptEpoch(from, epoch)) return
    this.state = DomainState.fromSnapshot(this.domain, snapshot)
    for (const seq of [...this.gap.keys()]) if (seq <= snapshot.seq) this.gap.delete(seq)
    this.unpersisted = []
    this.installSnapshot = true
    this.cfg.hooks.snapshotInstalled(this.domain, from)
    this.drain(from)
    this.flush()
  }

  private acceptEpoch(from: NodeId, epoch: number): boolean {
    if (epoch < this.epoch) {
      this.cfg.hooks.send(from, { type: 'nack', domain: this.domain, epoch: this.epoch })
      return false
    }
    this.epoch = epoch
    this.primary = from
    return true
  }

  private drain(from: NodeId): void {
    for (let next = this.gap.get(this.state.lastSeq + 1); next; next = this.gap.get(this.state.lastSeq + 1)) {
      this.gap.delete(next.seq)
      try {
        this.state.apply(next)
      } catch (err) {
        // Our copy disagrees with the primary's log: start over from its snapshot.
        this.cfg.hooks.failed(this.domain, err)
        this.gap.clear()
        this.cfg.hooks.send(from, { type: 'resend', domain: this.domain, epoch: this.epoch, after: this.state.lastSeq, afterEpoch: this.state.lastEpoch, snapshot: true })
        return
      }
      this.persist(next)
    }
    if (this.gap.size === 0 && this.resendTimer) {
      this.cfg.clock.clearTimeout(this.resendTimer)
      this.resendTimer = undefined
    }
  }

  /** Asks the primary for what is missing, again every `resendAfterMs` while the gap stays open. */
  askResend(to: NodeId): void {
    if (this.resendTimer) return
    const at = this.state.lastSeq
    this.cfg.hooks.send(to, { type: 'resend', domain: this.domain, epoch: this.epoch, after: at, afterEpoch: this.state.epochAt(at) ?? 0 })
    this.resendTimer = this.cfg.clock.setTimeout(() => {
      this.resendTimer = undefined
      if (this.role === 'backup' && this.primary && (this.gap.size > 0 || this.state.lastSeq === at)) this.askResend(this.primary)
    }, this.cfg.resendAfterMs)
  }

  private ack(): void {
    if (this.role === 'backup' && this.primary) this.cfg.hooks.send(this.primary, { type: 'ack', domain: this.domain, epoch: this.epoch, upTo: this.persistedSeq })
  }

  // ---- both: group commit to storage ----

  private persist(entry: LogEntry): void {
    this.unpersisted.push(entry)
    this.flush()
  }

  private flush(): void {
    if (this.flushPromise) return
    this.flushPromise = Promise.resolve()
      .then(() => this.flushLoop())
      .finally(() => {
        this.flushPromise = undefined
        // Entries that arrived between the loop's last check and now still need their commit.
        if (this.unpersisted.length > 0 || this.installSnapshot) this.flush()
      })
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.unpersisted.length > 0 || this.installSnapshot) {
        if (this.installSnapshot || this.persistence.needsCompaction()) {
          this.installSnapshot = false
          this.unpersisted = []
          const upTo = this.state.lastSeq
          await this.persistence.writeSnapshot(this.state)
          this.state.truncateLog(this.cfg.retainEntries)
          this.persistedSeq = Math.max(this.persistedSeq, upTo)
        } else {
          const batch = this.unpersisted
          this.unpersisted = []
          await this.persistence.append(batch)
          this.persistedSeq = Math.max(this.persistedSeq, batch[batch.length - 1]!.seq)
        }
        if (this.role === 'primary') this.checkCommits()
        else this.ack()
      }
    } catch (err) {
      this.cfg.hooks.failed(this.domain, err)
      this.failWaiting(err)
    }
  }

  /** Resolves once everything applied so far is on disk. */
  async flushed(): Promise<void> {
    while (this.flushPromise) await this.flushPromise
  }

  // ---- role changes (driven by the view) ----

  /** Serves writes for this domain under `epoch`; `sync` first fetches what the survivors have. */
  becomePrimary(epoch: number, backups: NodeId[], sync: (() => Promise<void>) | undefined): void {
    const was = this.role
    this.role = 'primary'
    this.epoch = Math.max(this.epoch, epoch)
    this.primary = undefined
    this.backups = backups
    for (const n of [...this.acked.keys()]) if (was !== 'primary' || !backups.includes(n)) this.acked.delete(n)
    this.gap.clear()
    if (this.resendTimer) this.cfg.clock.clearTimeout(this.resendTimer)
    this.resendTimer = undefined
    if (sync) {
      this.ready = sync().then(
        () => this.probeBackups(),
        (err) => this.cfg.hooks.failed(this.domain, err),
      )
    } else this.probeBackups()
    this.checkCommits()
  }

  /** Follows `primary` under `epoch`, asking it at once for anything this copy lacks (delta catch-up). */
  becomeBackup(epoch: number, primary: NodeId): void {
    if (this.role === 'primary') this.failWaiting(new NotPrimaryError(this.domain, primary))
    const changed = this.role !== 'backup' || this.primary !== primary
    this.role = 'backup'
    this.epoch = Math.max(this.epoch, epoch)
    this.primary = primary
    this.backups = []
    this.readers.forEach((r) => r.resolve()) // they re-check the role and get NotPrimaryError
    this.readers = []
    if (changed) {
      if (this.resendTimer) this.cfg.clock.clearTimeout(this.resendTimer)
      this.resendTimer = undefined
      this.askResend(primary)
    }
  }

  /** Installs what a survivor had beyond our log (failover sync). */
  adopt(from: NodeId, got: { entries?: LogEntry[]; snapshot?: Snapshot }): void {
    if (got.snapshot) {
      this.state = DomainState.fromSnapshot(this.domain, got.snapshot)
      this.unpersisted = []
      this.installSnapshot = true
      this.cfg.hooks.snapshotInstalled(this.domain, from)
      this.flush()
    }
    for (const e of got.entries ?? []) {
      if (e.seq !== this.state.lastSeq + 1) continue
      this.state.apply(e)
      this.persist(e)
    }
  }

  close(): void {
    for (const t of [this.resendTimer, this.probeTimer]) if (t) this.cfg.clock.clearTimeout(t)
    this.resendTimer = this.probeTimer = undefined
    this.failWaiting(new ClosedError(`domain ${this.domain} replica`))
  }
}

type ReplSnapshot = Extract<ReplMessage, { type: 'snapshot' }>['snapshot']
