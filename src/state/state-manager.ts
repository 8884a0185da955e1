/**
 * The state manager of one node: the replicas of the domains this node holds, the roles the view
 * gives them, and data access on them. It knows nothing of sockets: it talks to other nodes only
 * through the injected `StatePort`, and learns about membership only from `applyView`.
 */
import type { NodeId, VirtualServerId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { placeDomain, domainOf, type DomainPlacement } from '../topology/placement.js'
import { isUp, type ClusterSettings, type View } from '../topology/view.js'
import type { Clock } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { DomainState, type Snapshot } from './domain-state.js'
import { NoPrimaryError, NotPrimaryError } from './errors.js'
import { DEFAULT_LIMITS, validateWrite, type Limits } from './guard.js'
import type { LogEntry } from './log.js'
import type { FetchMsg, ReplMessage } from './messages.js'
import type { Change, StoredObject } from './objects.js'
import { DomainPersistence } from './persistence.js'
import { DomainReplica, type ReplicaConfig, type WriteResult } from './replica.js'

export interface FetchResult {
  lastSeq: number
  lastEpoch: number
  entries?: LogEntry[]
  snapshot?: Snapshot
}

export interface StatePort {
  send(to: NodeId, msg: ReplMessage): void
  fetch(from: NodeId, msg: FetchMsg): Promise<FetchResult>
}

export interface StateEvents {
  committed: { domain: number; entries: readonly LogEntry[] }
  'role-changed': { domain: number; role: 'primary' | 'backup'; epoch: number }
  'snapshot-sent': { domain: number; to: NodeId }
  'snapshot-installed': { domain: number; from: NodeId }
  'replica-error': { domain: number; error: unknown }
}

export interface StateManagerOptions {
  self: NodeId
  storage: Storage
  clock: Clock
  port: StatePort
  settings: ClusterSettings
  writeAcks?: 'all' | number
  writeTimeoutMs?: number
  resendAfterMs?: number
  /** Segment bytes per domain before a snapshot replaces them. */
  compactBytes?: number
  retainEntries?: number
  limits?: Limits
}

const newer = (a: { lastEpoch: number; lastSeq: number }, b: { lastEpoch: number; lastSeq: number }): boolean =>
  a.lastEpoch > b.lastEpoch || (a.lastEpoch === b.lastEpoch && a.lastSeq > b.lastSeq)

export class StateManager {
  readonly events = new Emitter<StateEvents>()
  readonly stats = { snapshotsSent: 0, snapshotsInstalled: 0 }
  private readonly replicas = new Map<number, DomainReplica>()
  private readonly cfg: ReplicaConfig
  private view: View | undefined

  constructor(private readonly opts: StateManagerOptions) {
    this.cfg = {
      clock: opts.clock,
      writeAcks: opts.writeAcks ?? 'all',
      writeTimeoutMs: opts.writeTimeoutMs ?? 10_000,
      resendAfterMs: opts.resendAfterMs ?? 200,
      retainEntries: opts.retainEntries ?? 10_000,
      hooks: {
        send: (to, msg) => opts.port.send(to, msg),
        committed: (domain, entries) => this.events.emit('committed', { domain, entries }),
        snapshotSent: (domain, to) => {
          this.stats.snapshotsSent++
          this.events.emit('snapshot-sent', { domain, to })
        },
        snapshotInstalled: (domain, from) => {
          this.stats.snapshotsInstalled++
          this.events.emit('snapshot-installed', { domain, from })
        },
        failed: (domain, error) => this.events.emit('replica-error', { domain, error }),
      },
    }
  }

  get limits(): Limits {
    return this.opts.limits ?? DEFAULT_LIMITS
  }

  get settings(): ClusterSettings {
    return this.opts.settings
  }

  /** Loads every replica stored on this node. */
  async open(): Promise<void> {
    for (const d of await DomainPersistence.storedDomains(this.opts.storage)) {
      if (d >= this.opts.settings.domainCount) continue
      const p = this.persistence(d)
      const state = (await p.load()) ?? new DomainState(d)
      this.replicas.set(d, new DomainReplica(state, p, this.cfg))
    }
  }

  domainOf(vs: VirtualServerId, key: string): number {
    return domainOf(vs, key, this.opts.settings.domainCount)
  }

  placement(domain: number): DomainPlacement {
    if (!this.view) throw new NoPrimaryError(domain)
    return placeDomain(this.view, this.opts.settings, domain)
  }

  /** Takes the roles a new view gives this node, domain by domain. */
  applyView(view: View): void {
    if (this.view && view.epoch <= this.view.epoch) return
    this.view = view
    const self = this.opts.self
    for (let d = 0; d < this.opts.settings.domainCount; d++) {
      const p = placeDomain(view, this.opts.settings, d)
      if (!p.replicas.includes(self)) continue
      const replica = this.ensure(d)
      const before = replica.role
      if (p.primary === self) {
        const backups = p.replicas.filter((n) => n !== self && isUp(view, n))
        const promoted = replica.role !== 'primary'
        const survivors = backups
        replica.becomePrimary(view.epoch, backups, promoted && survivors.length > 0 ? () => this.sync(replica, survivors, view.epoch) : undefined)
      } else if (p.primary) {
        replica.becomeBackup(view.epoch, p.primary)
      }
      if (replica.role !== before) this.events.emit('role-changed', { domain: d, role: replica.role, epoch: view.epoch })
    }
  }

  async write(vs: VirtualServerId, key: string, change: Change, ifVersion?: number): Promise<WriteResult> {
    validateWrite(key, change, this.limits)
    return this.primaryReplica(this.domainOf(vs, key)).write(vs, key, change, ifVersion)
  }

  async read(vs: VirtualServerId, key: string): Promise<StoredObject | undefined> {
    return this.primaryReplica(this.domainOf(vs, key)).readCommitted(vs, key)
  }

  /** This node's copy, possibly behind the primary; undefined if this node holds no copy. */
  readLocal(vs: VirtualServerId, key: string): { held: boolean; obj: StoredObject | undefined } {
    const r = this.replicas.get(this.domainOf(vs, key))
    return { held: r !== undefined, obj: r?.state.get(vs, key) }
  }

  isPrimary(domain: number): boolean {
    return this.replicas.get(domain)?.role === 'primary'
  }

  receive(from: NodeId, msg: ReplMessage): void {
    const r = this.replicas.get(msg.domain)
    if (!r) return // not ours (any more): the sender learns from its own view
    switch (msg.type) {
      case 'append':
        return r.onAppend(from, msg)
      case 'ack':
        return r.onAck(from, msg)
      case 'nack':
        return r.onNack(msg)
      case 'resend':
        return r.onResend(from, msg)
      case 'snapshot':
        return r.onSnapshot(from, msg.snapshot as Snapshot, msg.epoch)
    }
  }

  /** A new primary asks what we have beyond its log. */
  handleFetch(from: NodeId, msg: FetchMsg): FetchResult {
    const r = this.replicas.get(msg.domain)
    if (!r) return { lastSeq: 0, lastEpoch: 0 }
    if (r.role === 'primary' && msg.epoch > r.epoch) r.onNack({ domain: msg.domain, epoch: msg.epoch })
    const s = r.state
    const mine = { lastSeq: s.lastSeq, lastEpoch: s.lastEpoch }
    if (!newer(mine, { lastSeq: msg.after, lastEpoch: msg.afterEpoch })) return mine
    const entries = s.epochAt(msg.after) === msg.afterEpoch ? s.entriesAfter(msg.after) : undefined
    if (entries) return { ...mine, entries }
    this.cfg.hooks.snapshotSent(msg.domain, from)
    return { ...mine, snapshot: s.snapshot() }
  }

  /** Domains this node holds, with role and last seq, for health and tests. */
  domains(): { domain: number; role: 'primary' | 'backup'; lastSeq: number; committedSeq: number; objects: number }[] {
    return [...this.replicas.values()]
      .map((r) => ({ domain: r.domain, role: r.role, lastSeq: r.state.lastSeq, committedSeq: r.committedSeq, objects: r.state.objects.size }))
      .sort((a, b) => a.domain - b.domain)
  }

  /** Every stored object of a domain on this node (tests and healing). */
  objectsOf(domain: number): ReadonlyMap<string, StoredObject> {
    return this.replicas.get(domain)?.state.objects ?? new Map()
  }

  async flush(): Promise<void> {
    for (const r of this.replicas.values()) await r.flushed()
  }

  async close(): Promise<void> {
    await this.flush()
    for (const r of this.replicas.values()) r.close()
  }

  private async sync(replica: DomainReplica, survivors: NodeId[], epoch: number): Promise<void> {
    const s = replica.state
    const asked = await Promise.allSettled(
      survivors.map(async (n) => ({ node: n, got: await this.opts.port.fetch(n, { domain: replica.domain, epoch, after: s.lastSeq, afterEpoch: s.lastEpoch }) })),
    )
    let best: { node: NodeId; got: FetchResult } | undefined
    for (const a of asked) {
      if (a.status !== 'fulfilled') continue // a survivor that cannot answer has nothing we can wait for
      if (newer(a.value.got, best?.got ?? { lastSeq: s.lastSeq, lastEpoch: s.lastEpoch })) best = a.value
    }
    if (best && (best.got.entries?.length || best.got.snapshot)) replica.adopt(best.node, best.got)
  }

  private primaryReplica(domain: number): DomainReplica {
    const r = this.replicas.get(domain)
    if (r?.role === 'primary') return r
    const primary = this.view ? placeDomain(this.view, this.opts.settings, domain).primary : undefined
    if (!primary) throw new NoPrimaryError(domain)
    throw new NotPrimaryError(domain, primary)
  }

  private ensure(d: number): DomainReplica {
    let r = this.replicas.get(d)
    if (!r) this.replicas.set(d, (r = new DomainReplica(new DomainState(d), this.persistence(d), this.cfg)))
    return r
  }

  private persistence(d: number): DomainPersistence {
    return new DomainPersistence(this.opts.storage, d, this.opts.compactBytes ?? 1024 * 1024)
  }
}
