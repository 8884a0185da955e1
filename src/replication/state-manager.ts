/**
 * The state manager of one node: the replicas of the domains this node holds, the roles the view
 * gives them, and data access on them. It knows nothing of sockets: it talks to other nodes only
 * through the injected `StatePort`, and learns about membership only from `applyView`.
 */
import type { NodeId, VirtualServerId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { domainOf, domainRoles, type DomainRoles } from '../topology/placement.js'
import { healTargets, planView, type DomainPlan, type ViewPlan } from '../topology/manager.js'
import type { ClusterSettings, View } from '../topology/view.js'
import { yieldTo, type Clock } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { TUNING_DEFAULTS } from './tuning.js'
import { DomainState } from './domain-state.js'
import { NoPrimaryError, NotPrimaryError } from '../errors.js'
import { DEFAULT_LIMITS, checkIfVersion, validateWrite, type Limits } from '../objects/guard.js'
import type { LogEntry } from './log.js'
import type { FetchMsg, LeadAnswer, LeadMsg, OutgoingReplMessage, ReplMessage } from './messages.js'
import { normalizeChange, type Change, type StoredObject } from '../objects/objects.js'
import { DomainPersistence } from '../persistence/persistence.js'
import { Foreground } from '../healing/foreground.js'
import { HealingQueue, type HealingProgress, type HealingStep } from '../healing/healing.js'
import { QuietSweep } from '../objects/quiet-sweep.js'
import { answerFetch, positionOf, syncFromOwners, type FetchDeps, type FetchResult } from './owner-fetch.js'
import { releaseEncoderBuffer } from '../wire/codec.js'
import { DomainReplica, type CopyReport, type ReplicaConfig, type WriteResult } from './replica.js'

export type { FetchResult } from './owner-fetch.js'

/** The longest a healing piece waits for a quiet moment (foreground.ts). */
const HEAL_QUIET_MAX_WAIT_MS = 25

export interface StatePort {
  send(to: NodeId, msg: OutgoingReplMessage): void
  fetch(from: NodeId, msg: FetchMsg, timeoutMs: number): Promise<FetchResult>
  lead(to: NodeId, msg: LeadMsg, timeoutMs: number): Promise<LeadAnswer>
  /** Whether a link to `node` is open now (healing holds copies to a node it cannot reach yet). Default: always. */
  reachable?(node: NodeId): boolean
}

export interface StateEvents {
  committed: { domain: number; entries: readonly LogEntry[] }
  /**
   * This node's copy applied an entry (as primary or as backup), before the entry is known to be
   * committed. Entries that arrive inside a snapshot are not told one by one.
   */
  applied: { domain: number; entry: LogEntry }
  'role-changed': { domain: number; role: 'primary' | 'backup'; epoch: number }
  'snapshot-sent': { domain: number; to: NodeId }
  'snapshot-installed': { domain: number; from: NodeId }
  'replica-error': { domain: number; error: unknown }
  /** One healing copy finished (or failed); `domainsDone/domainsTotal` count this round; `copy` says where its time went. */
  healing: HealingStep
  /** The stored copy of a domain was damaged; it was dropped and is rebuilt from the other owners. */
  corrupt: { domain: number; error: unknown }
  /** `node` (an owner that is down) missed committed writes: the topology service should drop it as owner. */
  lagging: { domain: number; node: NodeId }
  /** Writes to `domain` are held back while healing ships its last delta. */
  lock: { domain: number; locked: boolean }
  /** A healing target now holds a complete copy: the topology service should list it as owner. */
  copied: { domain: number; target: NodeId; report: CopyReport }
}

export interface Health {
  epoch: number
  /** Domains this node leads. */
  primaryOf: number
  /** Domains this node leads that have fewer live copies than `replicas` (or copies still being made). */
  underReplicated: number[]
  healing: HealingProgress
  /** Domains whose copy here was found damaged and is not yet replaced; as primary they answer NotReadyError. */
  damaged: number[]
  /** Every domain this node leads is fully replicated, nothing is being copied and no copy here is damaged. */
  safe: boolean
  /** Domains this node leads that still fetch what the other owners hold (after a promotion or a restart): their calls wait. */
  syncing: number[]
  /**
   * Domains the current view gives no primary: every owner is down (or gone, like a closed tab
   * that held the only copy). Cluster-wide, the same on every node; reads and writes there fail
   * with NoPrimaryError until an owner is back.
   */
  unavailable: number[]
}

/** How a node replicates and heals its domains; every field has a default. */
export interface ReplicationTuning {
  /** Backups that must ack a write: 'all' live ones (default) or a number. */
  writeAcks?: 'all' | number
  writeTimeoutMs?: number
  resendAfterMs?: number
  /** Segment bytes per domain before a snapshot replaces them. */
  compactBytes?: number
  /**
   * Log entries each domain keeps in memory beyond what every copy holds (default 128), so an
   * owner that was away briefly catches up by deltas; one further behind gets a snapshot.
   */
  retainEntries?: number
  /**
   * What a quiet domain keeps of that when it is cooled (see coolAfterMs; default 32, never more
   * than retainEntries): an owner that comes back to a domain nobody writes to any more and
   * missed more than this gets a snapshot instead of the entries.
   */
  restEntries?: number
  /** After each domain copy while healing, pause this many times as long as the copy took (default 1; 0: no pause). */
  healPauseRatio?: number
  /** Between the pieces of one healing copy (128 log entries or objects each), wait this long (default 5 ms; 0: one event-loop turn). */
  healPieceGapMs?: number
  /** Before each piece of a healing copy, wait until this node has seen no write for this long, 25 ms at most (foreground.ts; default 3 ms; 0: never wait). */
  healQuietMs?: number
  /** A domain with no write for 1-2 × this keeps its log and objects encoded until used (quiet-sweep.ts; default 10,000 ms; 0: never). */
  coolAfterMs?: number
}

export interface StateManagerOptions extends ReplicationTuning {
  self: NodeId
  storage: Storage
  clock: Clock
  port: StatePort
  settings: ClusterSettings
  limits?: Limits
  /** How long one healing copy may take before it is given up (and planned again). */
  healTimeoutMs?: number
}

/** Where a node remembers that its copy of a domain was lost (damaged, or gone with its disk). */
const LOST_PREFIX = ['meta', 'lost'] as const
const lostKey = (d: number) => [...LOST_PREFIX, String(d)]

export class StateManager {
  readonly events = new Emitter<StateEvents>()
  readonly stats = { snapshotsSent: 0, snapshotsInstalled: 0 }
  private readonly replicas = new Map<number, DomainReplica>()
  private readonly sweep: QuietSweep
  private readonly cfg: ReplicaConfig
  private readonly healing: HealingQueue
  /** When writes leave room for healing's pieces (foreground.ts). */
  private readonly foreground: Foreground
  /** Domains whose stored copy was damaged: this node must not count as a complete copy of them. */
  private readonly corrupt = new Set<number>()
  /** Domains found damaged when the node started, and why (they are rebuilt from peers). */
  readonly damaged: { domain: number; reason: string }[] = []
  private view: View | undefined
  /** Roles per domain under `view`, each computed once: every write and read asks (placement). */
  private roles: (DomainRoles | undefined)[] = []

  constructor(private readonly opts: StateManagerOptions) {
    this.foreground = new Foreground(opts.clock, opts.healQuietMs ?? TUNING_DEFAULTS.healQuietMs, HEAL_QUIET_MAX_WAIT_MS)
    this.healing = new HealingQueue(
      {
        replica: (d) => this.replicas.get(d),
        wanted: (d, target) => this.rolesOf(d)?.healing.includes(target) ?? false,
        urgent: (d) => !this.durableSelf() && (this.aloneHolds(d) || this.rolesOf(d)?.needsDurable === true),
        progress: (p) => this.events.emit('healing', p),
        copied: (domain, target, report) => this.events.emit('copied', { domain, target, report }),
        positionOf: (domain, target) => positionOf(domain, target, this.view?.epoch ?? 0, this.fetchDeps()),
        quiet: () => this.foreground.quiet(),
        reachable: (node) => opts.port.reachable?.(node) ?? true,
      },
      opts.clock,
      opts.resendAfterMs ?? TUNING_DEFAULTS.resendAfterMs,
      opts.healTimeoutMs ?? 30_000,
      opts.healPauseRatio ?? TUNING_DEFAULTS.healPauseRatio,
      opts.healPieceGapMs ?? TUNING_DEFAULTS.healPieceGapMs,
    )
    this.sweep = new QuietSweep(
      opts.clock,
      opts.coolAfterMs ?? TUNING_DEFAULTS.coolAfterMs,
      () => [...this.replicas.values()],
      (domain, error) => this.events.emit('replica-error', { domain, error }),
      () => releaseEncoderBuffer(),
    )
    this.sweep.start()
    this.cfg = {
      clock: opts.clock,
      writeAcks: opts.writeAcks ?? TUNING_DEFAULTS.writeAcks,
      writeTimeoutMs: opts.writeTimeoutMs ?? TUNING_DEFAULTS.writeTimeoutMs,
      resendAfterMs: opts.resendAfterMs ?? TUNING_DEFAULTS.resendAfterMs,
      retainEntries: opts.retainEntries ?? TUNING_DEFAULTS.retainEntries,
      restEntries: Math.min(opts.restEntries ?? TUNING_DEFAULTS.restEntries, opts.retainEntries ?? TUNING_DEFAULTS.retainEntries),
      hooks: {
        send: (to, msg) => opts.port.send(to, msg),
        committed: (domain, entries) => this.events.emit('committed', { domain, entries }),
        // Checked first: this runs for every entry on every owner, and usually nobody listens.
        applied: (domain, entry) => this.events.listenerCount('applied') > 0 && this.events.emit('applied', { domain, entry }),
        snapshotSent: (domain, to) => {
          this.stats.snapshotsSent++
          this.events.emit('snapshot-sent', { domain, to })
        },
        snapshotInstalled: (domain, from) => {
          this.stats.snapshotsInstalled++
          this.events.emit('snapshot-installed', { domain, from })
        },
        failed: (domain, error) => this.events.emit('replica-error', { domain, error }),
        locked: (domain, locked) => this.events.emit('lock', { domain, locked }),
        lagging: (domain, node) => this.events.emit('lagging', { domain, node }),
        lead: async (to, domain, epoch, timeoutMs) => {
          const a = await opts.port.lead(to, { domain, epoch }, timeoutMs)
          return a.epoch > epoch && a.primary !== opts.self ? { epoch: a.epoch, primary: a.primary as NodeId | undefined } : undefined
        },
      },
    }
  }

  /** How long a primary lets a write wait for its backups before it answers with a TimeoutError. */
  get writeTimeoutMs(): number {
    return this.cfg.writeTimeoutMs
  }

  get limits(): Limits {
    return this.opts.limits ?? DEFAULT_LIMITS
  }

  get settings(): ClusterSettings {
    return this.opts.settings
  }

  /** Loads every replica stored on this node. */
  async open(): Promise<void> {
    // Copies found lost before this start stay lost: the marker outlives the dropped data.
    for (const e of await this.opts.storage.list(LOST_PREFIX)) {
      const d = Number(e.key[LOST_PREFIX.length])
      if (!Number.isInteger(d) || d < 0 || d >= this.opts.settings.domainCount) continue
      this.corrupt.add(d)
      this.damaged.push({ domain: d, reason: 'its copy was lost before this start and nothing has replaced it yet' })
    }
    for (const d of await DomainPersistence.storedDomains(this.opts.storage)) {
      if (d >= this.opts.settings.domainCount) continue
      const p = this.persistence(d)
      let state: DomainState
      try {
        state = (await p.load()) ?? new DomainState(d)
      } catch (error) {
        // Never serve a damaged copy: forget it and rebuild it from the other owners.
        this.events.emit('corrupt', { domain: d, error })
        this.damaged.push({ domain: d, reason: (error as Error).message })
        // The marker first: a restart between the two must not find an empty copy and no marker.
        await this.opts.storage.put(lostKey(d), new Uint8Array(0))
        await p.drop()
        this.corrupt.add(d)
        state = new DomainState(d)
      }
      const r = new DomainReplica(state, p, this.cfg)
      r.damaged = this.corrupt.has(d)
      this.replicas.set(d, r)
    }
  }

  domainOf(vs: VirtualServerId, key: string): number {
    return domainOf(vs, key, this.opts.settings.domainCount)
  }

  /** Who serves a domain now: its target replicas, and as primary the first up one that owns it. */
  placement(domain: number): DomainRoles {
    const roles = this.rolesOf(domain)
    if (!roles) throw new NoPrimaryError(domain)
    return roles
  }

  /**
   * Domains this ephemeral node (a tab) alone holds among the members that are up, while another
   * target replica could take a copy: one that is up (being healed, or not linked yet), or a
   * durable one the view shows down (back soon with its disk: after a topology-service restart
   * members are down until they say hello again). Closing now would leave what the tab
   * acknowledged there with nobody, since a tab's memory or IndexedDB may never come back.
   * `close` waits for these to be handed over.
   */
  soleHeld(): number[] {
    // A durable node's copies outlive it on disk (and at a full stop, waiting on each other would
    // only delay every peer): only an ephemeral one has anything to hand over.
    if (!this.view || this.durableSelf()) return []
    const taker = new Set(this.view.members.filter((m) => m.nodeId !== this.opts.self && (m.status === 'up' || m.durable === true)).map((m) => m.nodeId))
    // A listed owner that is down holds every acknowledged write already (commits wait until a
    // lagging one is dropped): with one, nothing needs handing over.
    return [...this.replicas.keys()].filter((d) => {
      const roles = this.rolesOf(d)
      return this.aloneHolds(d) && roles !== undefined && roles.owners.length === 1 && roles.replicas.some((n) => taker.has(n))
    })
  }

  /** Whether the view lists this node as durable (its copies outlive the process). */
  private durableSelf(): boolean {
    return this.view?.members.find((m) => m.nodeId === this.opts.self)?.durable === true
  }

  /** This node leads the domain and no other owner is up (see `soleHeld`). */
  private aloneHolds(domain: number): boolean {
    const r = this.replicas.get(domain)
    const roles = this.rolesOf(domain)
    if (!this.view || r?.role !== 'primary' || r.damaged || roles?.primary !== this.opts.self) return false
    const up = new Set(this.view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
    return roles.owners.every((o) => o === this.opts.self || !up.has(o))
  }

  private rolesOf(domain: number): DomainRoles | undefined {
    if (!this.view) return undefined
    return (this.roles[domain] ??= domainRoles(this.view, this.opts.settings, domain))
  }

  /**
   * Takes a newer view: the topology manager's planner (topology/manager.ts) says what it means
   * for each domain here, and `applyPlan` carries that out.
   */
  applyView(view: View): void {
    const plan = planView(view, {
      self: this.opts.self,
      settings: this.opts.settings,
      lastEpoch: this.view?.epoch,
      held: (d) => this.replicas.get(d),
      lost: (d) => this.corrupt.has(d),
    })
    if (plan) this.applyPlan(plan)
  }

  /** Carries out a view's plan (planView): the effects, domain by domain; it decides nothing itself. */
  applyPlan(plan: ViewPlan): void {
    const { view } = plan
    if (this.view && view.epoch <= this.view.epoch) return
    this.view = view
    this.roles = [...plan.roles]
    for (const p of plan.domains) this.applyDomain(view, p)
    // A copy held for a target that never linked up may be moot now (the target left).
    this.healing.wake()
  }

  private applyDomain(view: View, p: DomainPlan): void {
    const d = p.domain
    const { action } = p
    const existing = this.replicas.get(d)
    if (p.forgetLoss) this.forgetLoss(d)
    if (p.reportLost) this.events.emit('lagging', { domain: d, node: this.opts.self })
    if (existing) existing.damaged = p.damaged
    const before = existing?.role
    switch (action.kind) {
      case 'lead': {
        const replica = this.ensure(d)
        replica.complete = true
        for (const n of [...replica.healed]) if (!action.keepHealed.includes(n)) replica.healed.delete(n)
        const sync = action.sync ? () => syncFromOwners(replica, view.epoch, () => (this.view ? this.rolesOf(replica.domain)!.backups : undefined), this.fetchDeps()) : undefined
        replica.becomePrimary(view.epoch, [...action.backups], [...action.down], sync, action.durableNeeded ? new Set(action.durableNeeded) : undefined)
        for (const target of action.heal) this.healing.plan(d, target)
        break
      }
      case 'follow': {
        const replica = this.ensure(d)
        replica.complete = action.owner
        if (action.primary) replica.becomeBackup(view.epoch, action.primary, action.owner, action.ownerCount)
        break
      }
      case 'drop':
        // The copy follows a primary of a newer view already: that primary healed it as a target
        // and counts it as an owner (its copy ended with our ack). Dropped on this older view,
        // the domain would get an owner with nothing (sim --tabs seed 200, a stand-in whose views
        // came late). The newer view decides once it is here.
        if (existing!.epoch > view.epoch) break
        this.replicas.delete(d)
        existing!.close()
        void existing!.drop().catch((error: unknown) => this.events.emit('replica-error', { domain: d, error }))
        return
      case 'none':
        break
    }
    const after = this.replicas.get(d)?.role
    if (after && after !== before) this.events.emit('role-changed', { domain: d, role: after, epoch: view.epoch })
  }

  /** A link to `node` opened: a healing copy waiting for it starts now. */
  linkUp(_node: NodeId): void {
    this.healing.wake()
  }

  /** Ms since this node last saw a write: taken as primary, streamed to it as a backup, or acked. */
  idleMs(): number {
    return this.foreground.idleMs()
  }

  /** Never throws: a refused write is a rejection. */
  write(vs: VirtualServerId, key: string, change: Change, ifVersion?: number, from?: NodeId): Promise<WriteResult> {
    try {
      const dirty = validateWrite(key, change, this.limits)
      checkIfVersion(ifVersion)
      this.foreground.touch()
      return this.primaryReplica(this.domainOf(vs, key)).write(vs, key, normalizeChange(change, dirty), ifVersion, from)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async read(vs: VirtualServerId, key: string): Promise<StoredObject | undefined> {
    return this.primaryReplica(this.domainOf(vs, key)).readCommitted(vs, key)
  }

  /** This node's copy, possibly behind the primary; `held` is false without a complete copy here. */
  /**
   * This node's copy of an object if this node leads its domain and the object's version is
   * committed; otherwise undefined. A version that is not committed may never be: the next
   * primary then gives its number to another write, and a compare-and-set on it would pass
   * against that one. (update() takes its first base from here and else from a primary read.)
   */
  readCommittedHere(vs: VirtualServerId, key: string): StoredObject | undefined {
    const r = this.replicas.get(this.domainOf(vs, key))
    if (!r || !r.complete || r.role !== 'primary') return undefined
    const obj = r.state.get(vs, key)
    return obj && obj.version <= r.committedSeq ? obj : undefined
  }

  readLocal(vs: VirtualServerId, key: string): { held: boolean; obj: StoredObject | undefined } {
    const r = this.replicas.get(this.domainOf(vs, key))
    const held = r !== undefined && r.complete
    return { held, obj: held ? r.state.get(vs, key) : undefined }
  }

  isPrimary(domain: number): boolean {
    return this.replicas.get(domain)?.role === 'primary'
  }

  receive(from: NodeId, msg: ReplMessage): void {
    if ((msg.type === 'append' && msg.entries.length > 0) || msg.type === 'ack') this.foreground.touch()
    const r = this.replicas.get(msg.domain)
    if (!r) return // not ours (any more): the sender learns from its own view
    // The replica decides; sending and telling happen here (replica.ts `step`).
    const ready = r.step(from, msg)
    for (const s of ready.sends) this.opts.port.send(s.to, s.msg)
    if (ready.committed.length > 0) this.events.emit('committed', { domain: r.domain, entries: ready.committed })
  }

  /**
   * The operator's word that a domain whose every copy was damaged may serve what is left (an
   * empty copy): until then its primary answers NotReadyError rather than "absent".
   */
  acceptLoss(domain: number): void {
    this.forgetLoss(domain)
    const r = this.replicas.get(domain)
    if (!r) return
    r.damaged = false
    // A damaged copy was never copied on (applyView); what is left now is, to the targets still missing it.
    const roles = this.rolesOf(domain)
    if (r.role === 'primary' && roles?.primary === this.opts.self) for (const target of healTargets(roles, r.healed)) this.healing.plan(domain, target)
  }

  /**
   * The topology service's word (in its welcome) that this node, back with empty storage, was the
   * only listed owner of these domains: their data went with the old disk. They answer
   * NotReadyError, as a damaged copy does, until the operator calls `acceptLoss`; the marker is
   * stored, so a later restart does not take the empty copy for the domain's data either.
   */
  async markLost(domains: readonly number[]): Promise<void> {
    for (const d of domains) {
      if (d < 0 || d >= this.opts.settings.domainCount) continue
      await this.opts.storage.put(lostKey(d), new Uint8Array(0))
      this.corrupt.add(d)
      this.damaged.push({ domain: d, reason: 'this node came back with empty storage and was its only owner; call acceptLoss to serve it empty' })
      const r = this.replicas.get(d)
      if (r) r.damaged = true
    }
  }

  private forgetLoss(d: number): void {
    if (!this.corrupt.delete(d)) return
    void this.opts.storage.delete(lostKey(d)).catch((error: unknown) => this.events.emit('replica-error', { domain: d, error }))
  }

  /** Another owner's primary asks, before it answers a read, whether a newer primary exists (lead-check.ts). */
  handleLead(msg: LeadMsg): LeadAnswer {
    const r = this.replicas.get(msg.domain)
    const viewEpoch = this.view?.epoch ?? 0
    const primary = this.rolesOf(msg.domain)?.primary
    // This copy's own epoch may be ahead of our view (an append from a newer primary came first).
    if (r && r.epoch > viewEpoch) return { epoch: r.epoch, ...(r.role === 'primary' ? { primary: this.opts.self } : r.primary ? { primary: r.primary } : {}) }
    return { epoch: viewEpoch, ...(primary ? { primary } : {}) }
  }

  /** A new primary asks what we have beyond its log (owner-fetch.ts). */
  handleFetch(from: NodeId, msg: FetchMsg): FetchResult {
    return answerFetch(this.replicas.get(msg.domain), from, msg, () => this.cfg.hooks.snapshotSent(msg.domain, from))
  }

  /** Where each copy this node holds ends, [domain, epoch of its last entry, last seq]; a damaged copy counts as empty. */
  positions(): [number, number, number][] {
    return [...this.replicas.values()].map((r) => (r.damaged ? [r.domain, 0, 0] : [r.domain, r.state.lastEpoch, r.state.lastSeq]))
  }

  /** Domains this node holds, with role and last seq, for health and tests. */
  domains(): { domain: number; role: 'primary' | 'backup'; lastSeq: number; committedSeq: number; objects: number; encodedBytes: number; logEntries: number; decoded: { objects: number; logEntries: number } }[] {
    return [...this.replicas.values()]
      .map((r) => ({ domain: r.domain, role: r.role, lastSeq: r.state.lastSeq, committedSeq: r.committedSeq, objects: r.state.objects.size, encodedBytes: r.state.objects.encodedBytes, logEntries: r.state.logLength, decoded: { objects: r.state.objects.decoded, logEntries: r.state.decodedEntries } }))
      .sort((a, b) => a.domain - b.domain)
  }

  /** Per domain this node leads: log entries its slowest live backup has not acknowledged yet (metrics). */
  replicationLag(): { domain: number; entries: number }[] {
    return [...this.replicas.values()]
      .filter((r) => r.role === 'primary')
      .map((r) => ({ domain: r.domain, entries: r.backups.length ? Math.max(0, r.lastSeq - Math.min(...r.backups.map((b) => r.acked.get(b)))) : 0 }))
      .sort((a, b) => a.domain - b.domain)
  }

  /** Every stored object of a domain on this node (tests and healing). */
  objectsOf(domain: number): Iterable<[string, StoredObject]> {
    return this.replicas.get(domain)?.state.objects ?? []
  }

  health(): Health {
    const target = this.opts.settings.replicas
    const led = [...this.replicas.values()].filter((r) => r.role === 'primary')
    const roles = (d: number) => this.rolesOf(d)
    const underReplicated = led.filter((r) => r.backups.length + 1 < Math.min(target, this.view?.members.length ?? target) || (roles(r.domain)?.healing.length ?? 0) > 0).map((r) => r.domain)
    const healing = this.healing.progress()
    const damaged = [...this.replicas.values()].filter((r) => r.damaged).map((r) => r.domain)
    const unavailable: number[] = []
    if (this.view) for (let d = 0; d < this.opts.settings.domainCount; d++) if (roles(d)?.primary === undefined) unavailable.push(d)
    const syncing = led.filter((r) => r.isSyncing).map((r) => r.domain)
    return { epoch: this.view?.epoch ?? 0, primaryOf: led.length, underReplicated, healing, damaged, safe: underReplicated.length === 0 && !healing.inProgress && damaged.length === 0, syncing, unavailable }
  }

  async flush(): Promise<void> {
    for (const r of this.replicas.values()) await r.flushed()
  }

  async close(): Promise<void> {
    await this.flush()
    this.halt()
  }

  /** Stops every replica's timers without waiting for anything to reach storage. */
  halt(): void {
    for (const r of this.replicas.values()) r.close()
    this.healing.stop()
    this.sweep.stop()
  }

  private fetchDeps(): FetchDeps {
    return { clock: this.opts.clock, fetch: (from, msg, timeoutMs) => this.opts.port.fetch(from, msg, timeoutMs), resendAfterMs: this.cfg.resendAfterMs }
  }

  private primaryReplica(domain: number): DomainReplica {
    const r = this.replicas.get(domain)
    if (r?.role === 'primary') return r
    const primary = this.rolesOf(domain)?.primary
    if (!primary) throw new NoPrimaryError(domain)
    throw new NotPrimaryError(domain, primary)
  }

  private ensure(d: number): DomainReplica {
    let r = this.replicas.get(d)
    if (!r) {
      r = new DomainReplica(new DomainState(d), this.persistence(d), this.cfg)
      r.damaged = this.corrupt.has(d)
      this.replicas.set(d, r)
    }
    return r
  }

  private persistence(d: number): DomainPersistence {
    return new DomainPersistence(this.opts.storage, d, this.opts.compactBytes ?? TUNING_DEFAULTS.compactBytes, () => yieldTo(this.opts.clock))
  }
}
