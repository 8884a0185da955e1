/**
 * One domain's replica on this node, as primary or backup.
 *
 * Primary: a write is checked, applied, given the next seq, then persisted (group commit) and
 * streamed to the backups (outflow.ts) at the same time; it is acknowledged once it is on disk here and every
 * required backup has acked it. Acks are cumulative (`upTo`), so many writes are in flight at once,
 * and appends carry the commit point so a demoted primary learns the fate of its pending writes.
 * Backup: entries are applied strictly in seq order (intake.ts buffers gaps and asks again); the
 * ack goes out after the entries are on disk. Every message carries the view epoch: an older one is
 * refused with a nack, and a primary that gets a nack from a newer epoch stops acking writes.
 * Healing copies (healing-copy.ts) use encodeSnapshotParts / sendSnapshotPart / sendEntriesTo / lock / addBackup.
 *
 * A message from another owner goes in through `step`, which returns what the step asks of the
 * edge (a `Ready`: the messages to send, the entries now committed) instead of doing it; the
 * caller (the state manager) sends and tells. Timers, disk completions, the write path and
 * healing still send through the hooks themselves (docs/design.md, "The replica as a state machine").
 */
import { DomainMeshError, TimeoutError, NotPrimaryError, NotReadyError, StaleEpochError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { defer, yieldTo, type Clock, type TimerHandle } from '../util/clock.js'
import { withTimeout } from '../util/timeout.js'
import { AckWaiters } from './ack-waiters.js'
import { commitPoint } from './commit-point.js'
import { CommitPoll, CommitTracker, OutcomeUnknownError } from './commit-tracker.js'
import { DomainState, type IncomingSnapshot } from './domain-state.js'
import type { LogEntry } from './log.js'
import type { AckMsg, AppendMsg, NackMsg, OutgoingReplMessage, ReplMessage, ResendMsg } from './messages.js'
import { SnapshotAssembly } from '../persistence/snapshot-assembly.js'
import { encodeSnapshotNow, encodeSnapshotParts } from '../persistence/snapshot-encoder.js'
import { checkCas, type Change, type StoredObject } from '../objects/objects.js'
import type { DomainPersistence } from '../persistence/persistence.js'
import type { CopyReport, ReplicaConfig, WriteResult } from './replica-types.js'

export type { CopyReport, ReplicaConfig, ReplicaHooks, WriteResult } from './replica-types.js'
import { ReplicaStore } from '../persistence/replica-store.js'
import { Intake } from './intake.js'
import { Outflow } from './outflow.js'
import { Fence } from './fence.js'
import { DomainLock } from '../healing/domain-lock.js'
import { SyncPromise, admitEpoch } from './epoch-admission.js'
import { DownOwners } from './down-owners.js'
import { LeadCheck } from './lead-check.js'

/** Whether two lists name the same nodes. */
const sameNodes = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && a.every((n) => b.includes(n))

/** How many `resendAfterMs` a fenced primary waits for the view that demotes it. */
const FENCE_GRACE_RESENDS = 5

/** A message the replica wants sent. */
export interface Send {
  readonly to: NodeId
  readonly msg: OutgoingReplMessage
}

/**
 * What one step of a replica (a message in) asks of the edge, as raft's `Ready` does: the replica
 * changed its state and decided; whoever called it carries this out, in this order.
 */
export interface Ready {
  /** Messages to send, in the order they were decided. */
  readonly sends: Send[]
  /** Entries this step found committed, in seq order (the state manager's `committed` event). */
  readonly committed: LogEntry[]
}

export class DomainReplica extends ReplicaStore {
  role: 'primary' | 'backup' = 'backup'
  epoch = 0
  /** Primary: the up owners that get every write and must ack it. */
  backups: NodeId[] = []
  /** Backup: the primary it follows. */
  primary: NodeId | undefined
  committedSeq = 0
  /** The epoch in which this replica last became primary. */
  private ledSince = 0
  /** A complete copy (primary or owner); a healing target is not, until the view lists it as owner. */
  complete = true
  /**
   * The stored copy was found damaged and dropped: until a copy from another owner replaces it,
   * this replica answers NotReadyError as primary, never "absent" (issue: every copy damaged).
   */
  damaged = false
  /** A backup whose log disagrees with its primary's: it acks nothing until a snapshot replaces it. */
  private diverged = false
  /**
   * The longest log the primary we follow said it has, in the epoch `headEpoch`: we never ack
   * past it. A longer log of ours is another primary's tail (or this primary's own, from before it
   * restarted with a shorter log), and an ack of it would be counted once the primary's own log
   * reached that seq, with other entries. Learnt again in each epoch: only within one does a
   * primary's log never shrink.
   */
  private primaryHead = 0
  private headEpoch = -1
  /** Replicas a demoted primary reports for writes the next primary confirmed. */
  ownerCount = 1
  /** Targets this primary finished copying to, before the view lists them as owners. */
  readonly healed = new Set<NodeId>()
  private readonly downOwners: DownOwners
  private readonly leadCheck = new LeadCheck(() => this.leadRound())
  /** While commits wait for a down owner to be dropped: checks again (and re-reports) on this timer. */
  private holdTimer: TimerHandle | undefined
  /**
   * This primary is a tab with no durable backup while a durable member is a target: commits wait
   * until a backup from this set (the durable members) gets the writes (placement.ts, needsDurable).
   */
  private durableNeeded: ReadonlySet<NodeId> | undefined
  /** Primary after a promotion: writes wait until the replica has what the survivors have. */
  ready: Promise<void> = Promise.resolve()
  private syncing = false

  /** A new primary still fetching what the other owners hold: its reads and writes wait. */
  get isSyncing(): boolean {
    return this.syncing
  }
  private readonly tracker: CommitTracker
  readonly acked: AckWaiters
  private readonly fence: Fence
  private readonly assembly: SnapshotAssembly
  private readonly intake: Intake
  private readonly outflow: Outflow
  private readonly poll: CommitPoll
  /** A newer primary's sync fetch we answered: only it may send below its epoch. */
  private readonly promised = new SyncPromise()
  private readonly domainLock: DomainLock
  private closed = false
  /** While a `step` runs: where its sends and commits go instead of the hooks. */
  private outbox: Ready | undefined

  constructor(state: DomainState, persistence: DomainPersistence, private readonly cfg: ReplicaConfig) {
    super(state, persistence, cfg.retainEntries, (err) => {
      cfg.hooks.failed(state.domain, err)
      this.tracker.failAll(() => err)
    }, (fn) => defer(cfg.clock, fn))
    this.tracker = new CommitTracker(state.domain, cfg.clock, cfg.writeTimeoutMs, () => this.standing())
    this.downOwners = new DownOwners(cfg.clock, cfg.resendAfterMs, (n) => cfg.hooks.lagging(state.domain, n))
    this.acked = new AckWaiters(cfg.clock, cfg.resendAfterMs)
    this.assembly = new SnapshotAssembly(state.domain)
    this.domainLock = new DomainLock((locked) => cfg.hooks.locked(state.domain, locked))
    this.poll = new CommitPoll(cfg.clock, cfg.resendAfterMs, () => {
      if (this.role !== 'backup' || !this.primary || this.tracker.pending === 0) return false
      const at = this.state.lastSeq
      this.send(this.primary, { type: 'resend', domain: this.domain, epoch: this.epoch, after: at, afterEpoch: this.state.epochAt(at) ?? 0 })
      return true
    })
    this.fence = new Fence(cfg.clock, FENCE_GRACE_RESENDS * cfg.resendAfterMs, (by) => {
      if (this.role === 'primary' && this.fence.holds(this.epoch)) this.tracker.failAll(() => new StaleEpochError(this.domain, this.epoch, by))
    })
    this.intake = new Intake(
      {
        state: () => this.state,
        persist: (e) => this.took(e),
        ask: (to, after, afterEpoch, snapshot) => this.send(to, { type: 'resend', domain: this.domain, epoch: this.epoch, after, afterEpoch, ...(snapshot ? { snapshot } : {}) }),
        following: () => (this.role === 'backup' ? this.primary : undefined),
        failed: (err) => cfg.hooks.failed(state.domain, err),
      },
      cfg.clock,
      cfg.resendAfterMs,
    )
    this.outflow = new Outflow(
      {
        backups: () => (this.role === 'primary' && !this.closed ? this.backups : undefined),
        append: (entries) => this.append(entries),
        send: (to, msg) => this.send(to, msg),
        behind: () => this.backups.some((b) => this.acked.get(b) < this.state.lastSeq),
      },
      cfg.clock,
      cfg.resendAfterMs,
    )
  }

  /** The replica's position as a timed-out write reports it: role, epoch, seqs, each backup's ack. */
  private standing(): string {
    const acks = this.backups.map((b) => `${b} acked ${this.acked.get(b)}`).join(', ')
    const fenced = this.fence.holds(this.epoch) ? ', fenced by a newer epoch' : ''
    return `${this.role} in epoch ${this.epoch}${fenced}, last seq ${this.state.lastSeq}, on disk ${this.persistedSeq}, committed ${this.committedSeq}; ${acks || 'no backups'}`
  }

  /** After a promotion: waits for the sync with the other owners; past the write timeout, NotReadyError (never a stale answer). */
  private async untilSynced(): Promise<void> {
    try {
      await this.bounded(this.ready, 'waiting for the failover sync')
    } catch (err) {
      if (err instanceof TimeoutError) throw new NotReadyError(this.domain, 'it is still fetching what the other owners hold')
      throw err
    }
  }

  /** Every wait on the write and read paths is bounded: a caller gets a TimeoutError, never a hang. */
  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(this.cfg.clock, p, this.cfg.writeTimeoutMs, `domain ${this.domain}: ${what}`)
  }

  /**
   * Takes one message from another owner (`from`) and returns what to send and tell because of
   * it; nothing of that has happened yet. Should the step throw, what it decided before goes out
   * through the hooks first, as it would have without the step.
   */
  step(from: NodeId, msg: ReplMessage): Ready {
    const ready: Ready = { sends: [], committed: [] }
    const outer = this.outbox
    this.outbox = ready
    try {
      this.handle(from, msg)
    } catch (err) {
      this.outbox = outer
      this.deliver(ready)
      throw err
    }
    this.outbox = outer
    return ready
  }

  /** Carries out a `Ready` through the hooks (what the state manager does with one). */
  deliver(ready: Ready): void {
    for (const s of ready.sends) this.cfg.hooks.send(s.to, s.msg)
    if (ready.committed.length > 0) this.cfg.hooks.committed(this.domain, ready.committed)
  }

  private handle(from: NodeId, msg: ReplMessage): void {
    switch (msg.type) {
      case 'append':
        return this.onAppend(from, msg)
      case 'ack':
        return this.onAck(from, msg)
      case 'nack':
        return this.onNack(msg)
      case 'resend':
        return this.onResend(from, msg)
      case 'snapshot':
        return this.onSnapshot(from, msg.snapshot as IncomingSnapshot, msg.epoch, msg.part)
    }
  }

  /** Within a step, into its Ready; outside one (a timer, the disk, a write, healing), straight out. */
  private send(to: NodeId, msg: OutgoingReplMessage): void {
    if (this.outbox) this.outbox.sends.push({ to, msg })
    else this.cfg.hooks.send(to, msg)
  }

  private tellCommitted(entries: LogEntry[]): void {
    if (this.outbox) this.outbox.committed.push(...entries)
    else this.cfg.hooks.committed(this.domain, entries)
  }

  // ---- primary ----

  /** `from`: the node the write came from, if another; its copy is sent to last (outflow.ts). */
  async write(vs: string, key: string, change: Change, ifVersion: number | undefined, from?: NodeId): Promise<WriteResult> {
    // Outside a failover sync, no bounded wait (a timer and two promises per write): one
    // microtask still, so a write made by a listener of an applied entry runs after that entry's
    // write has registered its own wait (the waits must stay in seq order).
    if (this.syncing) await this.untilSynced()
    else await undefined
    while (this.domainLock.waiting) await this.bounded(this.domainLock.waiting, 'waiting for healing to unlock the domain')
    if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    if (this.damaged) throw new NotReadyError(this.domain, 'its stored copy was damaged and no complete copy has replaced it yet')
    // Fenced off by a newer primary: this write was not taken, so the caller may send it again
    // wherever the next view puts the primary (NOT_PRIMARY is retried; STALE_EPOCH is not).
    if (this.fence.holds(this.epoch)) throw new NotPrimaryError(this.domain, undefined)
    const entry: LogEntry = { seq: this.state.lastSeq + 1, epoch: this.epoch, vs, key, change }
    try {
      if (ifVersion !== undefined) checkCas(key, this.state.get(vs, key), change, ifVersion)
      this.state.apply(entry)
    } catch (err) {
      await this.confirmRefusal(vs, key)
      throw err
    }
    // Sent first: the backups' copies then start while our own disk write is still being set up
    // (setting up a file-system write costs this thread time). Commit still waits for both.
    this.outflow.send(entry, from)
    this.took(entry)
    const done = this.tracker.wait(entry.seq, entry.epoch)
    this.checkCommits()
    this.outflow.armProbe()
    return done
  }

  /**
   * A write refused for what the object holds (a compare-and-set conflict, no such key or path)
   * tells the caller about the object, as a read does: the refusal may rest on entries not yet
   * committed, and those of a primary that was replaced meanwhile (paused, cut off) never will
   * be; "no such key" from one makes a caller create over data that exists. So the refusal is
   * given only once this node has confirmed that it still leads and what it saw is committed;
   * otherwise the caller hears NotPrimaryError (or the TimeoutError of the wait), and since nothing
   * was applied it sends the write again.
   */
  private async confirmRefusal(vs: string, key: string): Promise<void> {
    await this.readCommitted(vs, key)
  }

  /**
   * A read on the primary sees only committed data (it waits for a pending write to the object),
   * and only while this node still leads the domain (lead-check.ts).
   */
  async readCommitted(vs: string, key: string): Promise<StoredObject | undefined> {
    await this.untilSynced()
    if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    if (this.damaged) throw new NotReadyError(this.domain, 'its stored copy was damaged and no complete copy has replaced it yet')
    if (this.backups.length > 0 || this.downOwners.list().length > 0) {
      await this.bounded(this.leadCheck.confirm(), 'confirming this node still leads')
      if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    }
    const obj = this.state.get(vs, key)
    const needed = obj?.version ?? this.state.lastSeq
    if (needed > this.committedSeq) {
      await this.bounded(this.tracker.waitForRead(needed), 'waiting for the write it reads to commit')
      if (this.role !== 'primary') throw new NotPrimaryError(this.domain, this.primary)
    }
    // The object as it was when the read began, now committed: writes applied during the wait
    // may not be, and those of a primary replaced meanwhile never will (an update that took one
    // as its base gave the next primary's increment the same version and lost a count).
    return obj
  }

  /**
   * One round of lead-check.ts: every owner must answer (a successor could only have come
   * through one of them). That includes a target this primary just finished copying to
   * (`healed`): the view that lists it as owner, and any view after that which names it primary,
   * may be the very views this primary has not heard yet. It includes owners that are down in
   * our view too: our view may be the stale one, and an owner that came back within the heal
   * delay is still an owner and takes over when we are marked down. We cannot reach it at once
   * then (over WebRTC the link needs signals the service refused while it counted us as down),
   * so its silence proves nothing. An owner that is down and silent is reported as lagging, as a
   * commit would (down-owners.ts), and reads wait (the caller sends them again on NotPrimaryError)
   * for the view that drops it. Should we be the deposed one, the report costs nothing
   * acknowledged: our successor committed nothing before the view dropped us as owner, and from
   * then on the service ignores our reports. Anyone who knows a newer primary fences this one.
   */
  private async leadRound(): Promise<void> {
    const epoch = this.epoch
    const owners = [...this.backups, ...this.downOwners.list()]
    const newer: { epoch: number; primary: NodeId | undefined }[] = []
    const ask = (n: NodeId) =>
      this.cfg.hooks.lead(n, this.domain, epoch, 5 * this.cfg.resendAfterMs).then((a) => {
        if (a) newer.push(a)
      })
    const answers = await Promise.allSettled(owners.map(ask))
    const deposedBy = newer[0]
    if (deposedBy) {
      this.onNack({ domain: this.domain, epoch: deposedBy.epoch })
      throw new NotPrimaryError(this.domain, deposedBy.primary)
    }
    const missing = answers.findIndex((a) => a.status === 'rejected')
    if (missing < 0) return
    if (missing >= this.backups.length) this.downOwners.reportDue()
    throw new NotPrimaryError(this.domain, undefined, `owner ${owners[missing]} did not confirm that this node still leads`)
  }

  private append(entries: LogEntry[]): OutgoingReplMessage {
    const prev = entries.length > 0 ? this.state.epochAt(entries[0]!.seq - 1) : undefined
    return { type: 'append', domain: this.domain, epoch: this.epoch, head: this.state.lastSeq, commit: this.committedSeq, ...(prev !== undefined ? { prev } : {}), entries }
  }

  /** Persists an entry this copy just applied, and says so (local subscribers hear it now). */
  private took(entry: LogEntry): void {
    this.persist(entry)
    this.cfg.hooks.applied(this.domain, entry)
  }

  /** The domain went quiet (quiet-sweep.ts): the log is cut to `restEntries`, then kept encoded. */
  cool(): void {
    this.restLog(this.cfg.restEntries)
    this.state.cool()
  }

  /** A primary: its commit point and every live backup's ack (with writeAcks below 'all', some lag); a backup: its disk. */
  protected override logFloor(): number {
    return this.role === 'primary' ? Math.min(this.committedSeq, ...this.backups.map((b) => this.acked.get(b))) : this.persistedSeq
  }

  get lastSeq(): number {
    return this.state.lastSeq
  }

  /** A demoted primary's writes still waiting: see CommitPoll (commit-tracker.ts). */
  private pollCommit(): void {
    if (this.tracker.pending > 0) this.poll.start()
  }

  private onAck(from: NodeId, msg: AckMsg): void {
    // An ack past our log, or from before we led, speaks of some other log than ours: a stale
    // copy must never count as holding what we wrote (or as having installed our snapshot).
    if (this.role !== 'primary' || msg.upTo > this.state.lastSeq || msg.epoch < this.ledSince) return
    this.acked.ack(from, msg.upTo)
    this.checkCommits()
  }

  /** A newer epoch's primary exists: see fence.ts. Nothing commits here meanwhile (checkCommits). */
  onNack(msg: NackMsg): void {
    if (msg.epoch > this.epoch) this.fence.raise(msg.epoch, this.tracker.pending > 0)
  }

  private onResend(from: NodeId, msg: ResendMsg): void {
    // Not before the sync after a promotion: our copy may still be behind the asker's.
    if (this.syncing) return void this.ready.then(() => this.onResend(from, msg))
    // Healing targets are fed by healing copies, not by resends; a damaged copy feeds nobody.
    if (this.role !== 'primary' || !this.backups.includes(from) || this.damaged) return
    const agrees = !msg.snapshot && msg.after <= this.state.lastSeq && this.state.epochAt(msg.after) === msg.afterEpoch
    const entries = agrees ? this.state.entriesAfter(msg.after) : undefined
    if (entries) this.send(from, this.append(entries))
    else this.sendSnapshotPart(from, encodeSnapshotNow(this.state), 0, 1)
  }

  protected override onPersisted(): void {
    if (this.role === 'primary') this.checkCommits()
    else {
      this.trimLog()
      this.ack()
    }
  }

  private checkCommits(): void {
    // Fenced: a backup that has not heard of the newer epoch yet may still ack, but the new
    // primary may already have put other writes at those seqs. Its commit point decides.
    if (this.role !== 'primary' || this.fence.holds(this.epoch)) return
    const acks = this.backups.map((b) => this.acked.get(b))
    const commitTo = commitPoint(this.persistedSeq, acks, this.cfg.writeAcks)
    if (commitTo > this.committedSeq && (this.downOwners.holdCommit() || this.lacksDurableBackup())) {
      // A listed owner is down and lacks these writes: they commit once a view drops it (down-owners.ts).
      // Or this tab has no durable backup yet: they commit once a copy made one (addBackup).
      this.holdTimer ??= this.cfg.clock.setTimeout(() => {
        this.holdTimer = undefined
        this.checkCommits()
      }, this.cfg.resendAfterMs)
      return
    }
    if (commitTo > this.committedSeq) {
      // A log cut past the last commit (a promoted backup's, say) still tells what it holds;
      // watchers drop what they were told before.
      const from = Math.max(this.committedSeq, this.state.logStart)
      this.committedSeq = commitTo
      const entries = this.state.entriesAfter(from)?.filter((e) => e.seq <= commitTo)
      if (entries?.length) this.tellCommitted(entries)
      this.trimLog()
    }
    this.tracker.commit(this.committedSeq, () => true, (seq) => 1 + acks.filter((a) => a >= seq).length)
  }

  // ---- what a healing copy (healing-copy.ts) uses ----

  /** The domain as it is at the call, in parts encoded with pauses between them (snapshot-encoder.ts). */
  encodeSnapshotParts(): Promise<Uint8Array[]> {
    return encodeSnapshotParts(this.state, () => yieldTo(this.cfg.clock))
  }

  /** Sends part `part` of `parts` of a snapshot (the receiver puts them together: snapshot-assembly.ts). */
  sendSnapshotPart(target: NodeId, bytes: Uint8Array, part: number, parts: number): void {
    if (part === 0) this.cfg.hooks.snapshotSent(this.domain, target)
    this.send(target, { type: 'snapshot', domain: this.domain, epoch: this.epoch, snapshot: bytes, ...(parts > 1 ? { part: [part, parts] } : {}) })
  }

  sendEntriesTo(target: NodeId, entries: LogEntry[]): void {
    this.send(target, this.append(entries))
  }

  /** Holds new writes to this domain back until the returned function is called. */
  lock(): () => void {
    return this.domainLock.take()
  }

  addBackup(target: NodeId): void {
    if (!this.backups.includes(target)) this.backups = [...this.backups, target]
    this.healed.add(target)
  }

  private lacksDurableBackup(): boolean {
    const durable = this.durableNeeded
    return durable !== undefined && !this.backups.some((b) => durable.has(b))
  }

  // ---- backup ----

  private onAppend(from: NodeId, msg: AppendMsg): void {
    if (this.role === 'primary') {
      // Another node streams this domain: whoever has the older epoch must stop.
      if (msg.epoch > this.epoch) this.onNack({ domain: this.domain, epoch: msg.epoch })
      else this.send(from, { type: 'nack', domain: this.domain, epoch: this.epoch })
      return
    }
    if (!this.acceptEpoch(from, msg.epoch)) return
    this.noteHead(msg.epoch, msg.head)
    if (!this.intake.receive(from, msg.entries as LogEntry[], msg.head, msg.prev)) {
      this.diverged = true
      return
    }
    // Writes we took as primary before a demotion: done once the new primary committed them.
    const known = Math.min(msg.commit, this.state.lastSeq)
    this.tracker.commit(known, (seq, epoch) => this.state.epochAt(seq) === epoch, () => this.ownerCount)
    // Nothing new to persist (a probe, or duplicates): say where we are now.
    if (!this.flushing) this.ack()
  }

  private onSnapshot(from: NodeId, snapshot: IncomingSnapshot, epoch: number, [part, parts] = [0, 1]): void {
    if (!this.acceptEpoch(from, epoch)) return
    const whole = this.assembly.add(from, snapshot, part, parts)
    if (!whole) return
    // A snapshot our log already contains (the same epoch at its last seq), while all we hold
    // lies within the log this primary says it has and nothing disagreed with it, is an old one:
    // a copy resent while our ack was on its way, or one that arrived after newer appends.
    // Installing it would take acknowledged entries back out of this copy. (A tail beyond the
    // primary's head is another primary's, and the snapshot is what truncates it.)
    const contained = whole.lastSeq < this.state.lastSeq && this.state.epochAt(whole.lastSeq) === whole.lastEpoch
    if (contained && !this.damaged && !this.diverged && epoch === this.headEpoch && this.state.lastSeq <= this.primaryHead) {
      this.intake.snapshotInstalled(from, whole.lastSeq)
      this.ack()
      return
    }
    this.noteHead(epoch, whole.lastSeq)
    this.replaceState(whole)
    this.damaged = false // a whole copy from the primary replaced what was lost
    this.diverged = false
    this.tracker.failAll((seq) => new OutcomeUnknownError(this.domain, seq))
    this.cfg.hooks.snapshotInstalled(this.domain, from)
    this.intake.snapshotInstalled(from, snapshot.seq)
  }

  /** Takes `from`'s epoch or nacks it (epoch-admission.ts). */
  private acceptEpoch(from: NodeId, epoch: number): boolean {
    const a = admitEpoch(this, from, epoch, this.promised.floorFor(from))
    if (!a.taken) {
      this.send(from, { type: 'nack', domain: this.domain, epoch: a.nack })
      return false
    }
    this.epoch = a.epoch
    if (a.primary !== this.primary) this.headEpoch = -1
    this.primary = a.primary
    return true
  }

  /** We answered `to`'s sync fetch at `epoch` (epoch-admission.ts). */
  promise(to: NodeId, epoch: number): void {
    if (this.role === 'backup') this.promised.give(to, epoch, this.epoch)
  }

  private noteHead(epoch: number, head: number): void {
    this.primaryHead = epoch === this.headEpoch ? Math.max(this.primaryHead, head) : head
    this.headEpoch = epoch
  }

  private ack(): void {
    if (this.role === 'backup' && this.primary && !this.diverged) this.send(this.primary, { type: 'ack', domain: this.domain, epoch: this.epoch, upTo: Math.min(this.persistedSeq, this.headEpoch < 0 ? 0 : this.primaryHead) })
  }

  // ---- role changes (driven by the view) ----

  /**
   * Serves writes for this domain under `epoch`; `sync` first fetches what the survivors have.
   * `durableNeeded`: commits wait until one of these nodes is a backup (a tab's primary, see above).
   */
  becomePrimary(epoch: number, backups: NodeId[], downOwners: NodeId[], sync: (() => Promise<void>) | undefined, durableNeeded?: ReadonlySet<NodeId>): void {
    this.durableNeeded = durableNeeded
    const was = this.role
    const changed = this.downOwners.set(downOwners) || was !== 'primary' || !sameNodes(this.backups, backups)
    this.role = 'primary'
    this.diverged = false
    this.epoch = Math.max(this.epoch, epoch)
    if (was !== 'primary') this.ledSince = this.epoch
    this.promised.settle(this.epoch)
    // A view older than the fence may still name us: then the grace keeps running.
    this.fence.settle(this.epoch)
    this.primary = undefined
    this.backups = backups
    this.ownerCount = backups.length + 1
    if (was !== 'primary') this.healed.clear()
    for (const n of this.acked.nodes()) if (was !== 'primary' || !backups.includes(n)) this.acked.forget(n)
    this.intake.reset()
    if (sync) {
      this.syncing = true
      this.ready = sync()
        .then(
          () => {
            // A probe: laggards ask for what they lack; again while a backup's ack is behind
            // (a lost probe or ack would otherwise leave the commit point where it was).
            this.outflow.send()
            this.outflow.armProbe()
          },
          (err) => this.cfg.hooks.failed(this.domain, err),
        )
        .finally(() => (this.syncing = false))
    } else {
      this.outflow.viewApplied(changed || this.fence.holds(this.epoch))
      this.outflow.armProbe()
    }
    this.checkCommits()
  }

  /**
   * Follows `primary` under `epoch`. An owner asks it at once for anything it lacks (delta
   * catch-up); a healing target waits for the primary to copy the domain to it.
   */
  becomeBackup(epoch: number, primary: NodeId, owner: boolean, ownerCount: number): void {
    const changed = this.role !== 'backup' || this.primary !== primary
    if (this.primary !== primary) this.headEpoch = -1
    this.fence.stop()
    this.role = 'backup'
    this.epoch = Math.max(this.epoch, epoch)
    this.promised.settle(this.epoch)
    this.primary = primary
    this.backups = []
    this.ownerCount = ownerCount
    this.tracker.wakeReaders()
    this.pollCommit()
    if (changed && owner) {
      this.intake.stop()
      this.intake.ask(primary)
    }
  }

  /** Installs what a survivor had beyond our log (failover sync). */
  adopt(from: NodeId, got: { entries?: LogEntry[]; snapshot?: IncomingSnapshot }): void {
    if (got.snapshot) {
      this.assembly.clear()
      this.replaceState(DomainState.fromSnapshot(this.domain, got.snapshot))
      this.tracker.failAll((seq) => new OutcomeUnknownError(this.domain, seq))
      this.cfg.hooks.snapshotInstalled(this.domain, from)
    }
    for (const e of got.entries ?? []) {
      if (e.seq !== this.state.lastSeq + 1) continue
      this.state.apply(e)
      this.took(e)
    }
  }

  close(): void {
    this.closed = true
    if (this.holdTimer) this.cfg.clock.clearTimeout(this.holdTimer)
    this.holdTimer = undefined
    this.fence.stop()
    this.assembly.clear()
    this.poll.stop()
    this.outflow.stop()
    this.intake.stop()
    this.tracker.failAll(() => new DomainMeshError('CLOSED', `domain ${this.domain} replica closed`))
  }
}

