/**
 * The topology service: admits nodes that prove they know the cluster secret (and, for an id that
 * is live, its node key: node-keys.ts), relays WebRTC signals between admitted members only,
 * detects failures (closed link, missed heartbeats), and publishes every change as a view with a
 * higher epoch. A member that fails stays in the view as
 * `down` for `healDelayMs`, then leaves it. The view also lists, per domain, the owners: members
 * with a complete copy (healing adds them when a primary reports a finished copy).
 * Pure logic over injected links and clock: the ws server and the in-process tests share it.
 */
import type { NodeId } from '../ids.js'
import type { EngineInfo, MemberInfo } from '../routing/engine.js'
import { domainRoles, placeDomain, targetsOf } from '../topology/placement.js'
import { LinkGate } from './link-gate.js'
import { ClientDesk } from './client-desk.js'
import { HelloCheck } from './hello-check.js'
import type { ClientAuthOptions } from '../auth/credentials.js'
import { nodeKeyHash, takeOverRefusal } from './node-keys.js'
import { asView, RECONNECT_MAX_MS, type ClientMessage, type HelloMessage, type TopologyLink } from '../topology/protocol.js'
import type { ClusterSettings, View } from '../topology/view.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { MemoryTopologyStateStore, TopologyStateError, type TopologyState, type TopologyStateStore } from './topology-state.js'

export interface TopologyServiceOptions {
  clusterId: string
  secret: string
  clock: Clock
  settings: ClusterSettings
  healDelayMs?: number
  heartbeatMs?: number
  /** Heartbeats a member may miss before it is marked down. */
  missedHeartbeats?: number
  /** If set, only these node ids may join (a static topology). */
  allowedNodes?: readonly string[]
  /** How far a hello's timestamp may be from the service's clock. */
  helloWindowMs?: number
  /**
   * Where the epoch, the members and the owners are kept (default: in memory, lost with the
   * process). The service loads it before it admits anyone and saves it before every view.
   */
  store?: TopologyStateStore
  /** A link that has not been admitted by a valid hello this long after it opened is refused. */
  helloTimeoutMs?: number
  /** Links still waiting to be admitted, at most; beyond it a new link is refused at once. */
  maxWaitingLinks?: number
  /** Malformed messages after which a link is disconnected (a peer that keeps sending them). */
  maxMalformed?: number
  /** Admits clients (browser tabs of an app's users) with tokens signed by this key's owner; without it, none. */
  clientAuth?: ClientAuthOptions
  /** Clients admitted at once, at most (default 100,000). */
  maxClients?: number
  /**
   * Admits members that show a member token signed by this key's holder (`issueMemberToken`) in
   * place of the cluster secret: a trusted browser tab as a member, without the secret in its page.
   */
  memberAuth?: ClientAuthOptions
}

export interface TopologyServiceEvents {
  view: { view: View }
  refused: { reason: string }
  /** No saved state, and a node remembered a view: the state is rebuilt from it (`waitingFor()` lists what still waits). */
  recovering: { epoch: number; domains: number }
  /** The state could not be loaded or saved: the service stops publishing (and admitting). */
  'state-error': { error: Error }
}

const OWNER_BATCH_MS = 25

interface Member {
  nodeId: NodeId
  engines: EngineInfo[]
  durable: boolean
  status: 'up' | 'down'
  link: TopologyLink | undefined
  /** When it was last heard from; ahead of the clock for a member still given time to reconnect. */
  lastSeen: number
  removal: TimerHandle | undefined
  /** Its link got its welcome: views go to it from then on. */
  welcomed: boolean
  /** The hash of the node key its hello showed (node-keys.ts); undefined for a node without one. */
  keyHash: string | undefined
}

/**
 * A service behind etcd gateways (etcd-topology.ts): each gateway applied the node-key rule at its
 * own door, where a node's liveness is its key in etcd, and the leader's hellos carry no key: this
 * says which key hash the node showed, for the state.
 */
export interface GatewayAdmission {
  keyHashOf(hello: HelloMessage): string | undefined
}

export class TopologyService {
  readonly events = new Emitter<TopologyServiceEvents>()
  /** The clients admitted here (client-desk.ts). */
  readonly clients: ClientDesk
  readonly stats = { refused: 0, malformed: 0, malformedDisconnects: 0, signalsRelayed: 0, reportsIgnored: 0, linkErrors: 0, serverErrors: 0 }
  private readonly members = new Map<NodeId, Member>()
  private owners: Record<number, NodeId[]> = {}
  private epoch = 0
  /** A member's hello: cluster, id, timestamp, nonce, and its proof or member token (hello-check.ts). */
  private readonly hellos: HelloCheck
  /** Links not admitted yet: their hello deadline and the input rules (link-gate.ts). */
  private readonly gate: LinkGate
  private sweeper: TimerHandle | undefined
  private batch: TimerHandle | undefined
  private closed = false
  readonly healDelayMs: number
  readonly heartbeatMs: number
  private readonly store: TopologyStateStore
  /** Resolves once the saved state is back; nobody is admitted before. */
  readonly loaded: Promise<void>
  /** Saves and the sends that follow them, one after another, in epoch order. */
  private saving: Promise<void> = Promise.resolve()
  /** Set when the state cannot be loaded or saved: nothing is published after that. */
  private failure: Error | undefined
  /** Whether a saved state was found (then the nodes' last views are never needed). */
  private hadState = false
  /**
   * Domains rebuilt from a node's last view that wait until every owner that view listed has
   * reported where its copy ends; the reports so far, per node: domain → [epoch, seq].
   */
  private waitingDomains = new Set<number>()
  private readonly reports = new Map<NodeId, Map<number, [number, number]>>()

  constructor(
    private readonly opts: TopologyServiceOptions,
    private readonly gateways?: GatewayAdmission,
  ) {
    this.healDelayMs = opts.healDelayMs ?? 5000
    this.heartbeatMs = opts.heartbeatMs ?? 1000
    this.store = opts.store ?? new MemoryTopologyStateStore()
    this.gate = new LinkGate({ clock: opts.clock, maxWaitingLinks: opts.maxWaitingLinks, helloTimeoutMs: opts.helloTimeoutMs, maxMalformed: opts.maxMalformed, stats: this.stats, refused: (reason) => this.events.emit('refused', { reason }) })
    this.hellos = new HelloCheck({ clusterId: opts.clusterId, secret: opts.secret, clock: opts.clock, allowedNodes: opts.allowedNodes, helloWindowMs: opts.helloWindowMs, memberAuth: opts.memberAuth, isClient: (id) => this.clients.has(id as NodeId) })
    this.clients = new ClientDesk({
      clusterId: opts.clusterId,
      clock: opts.clock,
      gate: this.gate,
      auth: opts.clientAuth,
      maxClients: opts.maxClients,
      isMember: (id) => this.members.has(id),
      toMember: (to, msg) => {
        const m = this.members.get(to)
        if (!m?.link || m.status !== 'up' || !m.welcomed) return false
        m.link.send(msg)
        return true
      },
      view: () => (this.epoch > 0 && !this.failure ? this.view() : undefined),
      welcome: () => ({ settings: this.opts.settings, heartbeatMs: this.heartbeatMs, healDelayMs: this.healDelayMs }),
    })
    this.loaded = this.load()
    this.loaded.catch(() => undefined) // reported through 'state-error'; admissions see it too
    this.armSweeper()
  }

  /** Takes the saved state back: the epoch goes on from there, members wait to reconnect. */
  private async load(): Promise<void> {
    let state: TopologyState | undefined
    try {
      state = await this.store.load()
    } catch (err) {
      this.fail(err as Error)
      throw err
    }
    if (!state) return
    this.hadState = true
    const s = this.opts.settings
    const wrong =
      state.clusterId !== this.opts.clusterId
        ? `it belongs to cluster "${state.clusterId}", not "${this.opts.clusterId}"`
        : state.settings.domainCount !== s.domainCount
          ? `it was made with ${state.settings.domainCount} domains, not ${s.domainCount}: changing the domain count would move every key`
          : undefined
    if (wrong) {
      const err = new TopologyStateError('load', wrong)
      this.fail(err)
      throw err
    }
    this.epoch = state.epoch
    this.owners = Object.fromEntries(Object.entries(state.owners).map(([d, o]) => [Number(d), [...o]]))
    this.waitingDomains = new Set(state.waiting ?? [])
    const now = this.opts.clock.now()
    for (const m of state.members) {
      // Whoever was up is given the time its retries may take (they grew apart while the service
      // was away) plus the usual heartbeat allowance: with the allowance alone, live nodes were
      // marked down before their next attempt, their domains failed over, and a tab that took one
      // over reported its durable owner lagging and closed with the only copy (fault seed 7400).
      // Whoever was down gets a whole heal delay again, counted from now.
      const member: Member = { nodeId: m.nodeId, engines: [...m.engines], durable: m.durable === true, status: m.status, link: undefined, lastSeen: m.status === 'up' ? now + RECONNECT_MAX_MS : now, removal: undefined, welcomed: false, keyHash: m.keyHash }
      this.members.set(m.nodeId, member)
      if (m.status === 'down') member.removal = this.opts.clock.setTimeout(() => this.remove(member), this.healDelayMs)
    }
  }

  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error
    this.events.emit('state-error', { error })
  }

  /** Resolves when every view published so far has been saved and sent. */
  async flushed(): Promise<void> {
    await this.saving
  }

  view(): View {
    const members: MemberInfo[] = [...this.members.values()].map((m) => ({ nodeId: m.nodeId, status: m.status, engines: m.engines, ...(m.durable ? { durable: true } : {}) }))
    // A copy of the record (each domain's list is replaced, never changed in place): a view once
    // handed out must not take in owner changes made for the next epoch.
    return { epoch: this.epoch, members, owners: { ...this.owners }, ...(this.waitingDomains.size > 0 ? { waiting: [...this.waitingDomains].sort((a, b) => a - b) } : {}) }
  }

  /** Domains rebuilt after a lost state that still wait for an owner, and the owners that have not reported. */
  waitingFor(): { domain: number; nodes: NodeId[] }[] {
    return [...this.waitingDomains].sort((a, b) => a - b).map((domain) => ({ domain, nodes: (this.owners[domain] ?? []).filter((n) => !this.reports.has(n)) }))
  }

  /**
   * The service lost its state (no saved state, nothing published yet) and a node remembers a
   * view: that view's epoch and owners are taken back, and each domain it lists owners for
   * waits until they have all said where their copies end.
   */
  private recoverFrom(view: View): void {
    if (this.hadState || view.epoch <= this.epoch) return
    this.epoch = view.epoch
    this.owners = {}
    this.waitingDomains.clear()
    for (const [d, owners] of Object.entries(view.owners ?? {})) {
      const domain = Number(d)
      if (domain >= this.opts.settings.domainCount || owners.length === 0) continue
      this.owners[domain] = [...owners]
      this.waitingDomains.add(domain)
    }
    this.events.emit('recovering', { epoch: view.epoch, domains: this.waitingDomains.size })
    this.settleWaiting()
  }

  /** A domain stops waiting once every listed owner reported: the ones with the newest copy stay owners (Kafka's leader epochs, then seq). */
  private settleWaiting(): boolean {
    let changed = false
    for (const d of [...this.waitingDomains]) {
      const owners = this.owners[d] ?? []
      if (!owners.every((n) => this.reports.has(n))) continue
      const at = (n: NodeId) => this.reports.get(n)!.get(d) ?? [0, 0]
      const newer = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])
      let best: [number, number] = [0, 0]
      for (const n of owners) if (newer(at(n), best)) best = at(n)
      this.owners[d] = owners.filter((n) => at(n)[0] === best[0] && at(n)[1] === best[1])
      this.waitingDomains.delete(d)
      changed = true
    }
    return changed
  }

  /** Takes a new link (a socket, or an in-process pair). It must say hello first. */
  accept(link: TopologyLink): void {
    let member: Member | undefined
    let client: { id: NodeId; handle: (msg: ClientMessage) => void } | undefined
    this.gate.accept(link, {
      hello: (msg) => {
        if (msg.type === 'client-hello') {
          return void this.loaded
            .catch(() => undefined)
            .then(() => this.clients.admit(link, msg))
            .then((handle) => (client = handle && { id: msg.nodeId as NodeId, handle }))
        }
        void this.admit(link, msg).then((m) => (member = m))
      },
      message: (msg) => {
        if (client) return client.handle(msg)
        if (member && member.link === link) this.onMessage(member, msg)
      },
      closed: () => {
        if (client) return this.clients.closed(client.id, link)
        if (member && member.link === link) this.markDown(member, 'link closed')
      },
    })
  }

  close(): void {
    this.closed = true
    for (const t of [this.sweeper, this.batch]) if (t) this.opts.clock.clearTimeout(t)
    for (const m of this.members.values()) {
      if (m.removal) this.opts.clock.clearTimeout(m.removal)
      m.link?.close('topology service stopping')
    }
    this.gate.closeWaiting('topology service stopping')
    this.clients.close('topology service stopping')
  }

  private async admit(link: TopologyLink, hello: HelloMessage): Promise<Member | undefined> {
    await this.loaded.catch(() => undefined)
    const why = this.failure ? `the topology service has no state: ${this.failure.message}` : await this.checkHello(hello)
    // The link closed, or its hello deadline passed, while the proof was being checked.
    if (!this.gate.waits(link)) return undefined
    if (why) {
      this.gate.refuse(link, why)
      return undefined
    }
    const id = hello.nodeId as NodeId
    const shown = this.gateways ? this.gateways.keyHashOf(hello) : hello.key !== undefined ? nodeKeyHash(hello.key) : undefined
    let m = this.members.get(id)
    // An id that is live is taken over only by a hello that shows its key (node-keys.ts).
    const taken = m && !this.gateways ? takeOverRefusal(id, { live: this.isLive(m), stored: m.keyHash }, shown) : undefined
    if (taken) {
      this.gate.refuse(link, taken)
      return undefined
    }
    this.gate.admitted(link)
    // No saved state, and this node saw a later view than ours: the state is rebuilt from it.
    if (hello.lastView && !this.hadState && hello.lastView.epoch > this.epoch) this.recoverFrom(asView(hello.lastView))
    m = this.members.get(id)
    if (m?.link && m.link !== link) m.link.close('replaced by a new connection of the same node')
    if (m?.removal) this.opts.clock.clearTimeout(m.removal)
    if (!m) {
      m = { nodeId: id, engines: hello.engines as EngineInfo[], durable: hello.durable === true, status: 'up', link, lastSeen: this.opts.clock.now(), removal: undefined, welcomed: false, keyHash: shown }
      this.members.set(id, m)
    }
    // The key shown replaces the stored one: the same, or a new disk's once the old link was not live.
    Object.assign(m, { engines: hello.engines as EngineInfo[], durable: hello.durable === true, status: 'up', link, lastSeen: this.opts.clock.now(), removal: undefined, welcomed: false, keyHash: shown })
    const lost = hello.fresh ? this.forgetCopiesOf(id) : []
    // Everyone else hears of the new view; the newcomer gets it in its welcome, first.
    this.publish({ member: m, link, welcome: (view) => link.send({ type: 'welcome', nodeId: id, view, settings: this.opts.settings, heartbeatMs: this.heartbeatMs, healDelayMs: this.healDelayMs, beats: true, ...(lost.length > 0 ? { lost } : {}) }) })
    return m
  }

  private async checkHello(h: HelloMessage): Promise<string | undefined> {
    if (this.closed) return 'the topology service is stopping'
    return this.hellos.check(h)
  }

  private onMessage(m: Member, msg: ClientMessage): void {
    m.lastSeen = this.opts.clock.now()
    switch (msg.type) {
      case 'heartbeat':
        // The node learns the service is alive: one that hangs (a stopped process, a machine cut
        // off) closes no socket, and without answers its nodes would wait on it for ever.
        return m.link?.send({ type: 'beat' })
      case 'signal': {
        const to = this.members.get(msg.to as NodeId)
        if (!to && this.clients.deliver(msg.to as NodeId, { type: 'signal', from: m.nodeId, data: msg.data })) return void this.stats.signalsRelayed++
        if (!to?.link || to.status !== 'up') return m.link?.send({ type: 'error', reason: `cannot signal ${msg.to}: not an admitted member` })
        this.stats.signalsRelayed++
        return to.link.send({ type: 'signal', from: m.nodeId, data: msg.data })
      }
      case 'report': {
        // A dropped data channel is a hint, not proof: any member can send one (a tab that holds
        // the cluster secret, a node cut off from the peer on the data network only). The peer is
        // marked down only on this service's own evidence, the one the sweeper acts on: it is
        // silent here past its heartbeat allowance. A closed link marked it down already.
        const peer = this.members.get(msg.peer as NodeId)
        if (peer && !this.isLive(peer) && peer.status === 'up') return this.markDown(peer, `reported by ${m.nodeId}, and silent past its heartbeats`)
        this.stats.reportsIgnored++
        return
      }
      case 'owned':
        return this.addOwner(msg.domain, msg.node as NodeId, m.nodeId)
      case 'lagging':
        return this.dropOwner(msg.domain, msg.node as NodeId, m.nodeId)
      case 'leave':
        return this.remove(m)
      case 'copies': {
        if (this.hadState) return
        this.reports.set(m.nodeId, new Map(msg.copies.map(([d, e, q]) => [d, [e, q] as [number, number]])))
        if (this.settleWaiting()) this.publish()
        return
      }
      case 'engines':
        m.engines = msg.engines as EngineInfo[]
        return this.publish()
      case 'hello':
        return m.link?.send({ type: 'error', reason: 'already admitted' })
    }
  }

  private markDown(m: Member, _why: string): void {
    // The links that close as the service stops are no failures: nothing changes after close.
    if (m.status === 'down' || this.closed) return
    m.status = 'down'
    m.link?.close('marked down')
    m.link = undefined
    m.removal = this.opts.clock.setTimeout(() => this.remove(m), this.healDelayMs)
    this.publish()
  }

  private remove(m: Member): void {
    if (m.removal) this.opts.clock.clearTimeout(m.removal)
    m.link?.close('left the cluster')
    if (this.members.get(m.nodeId) !== m) return
    this.members.delete(m.nodeId)
    // A departed node stops being an owner, unless it was the last one: then the domain's data
    // lives only on its disk, and the domain waits for it rather than serving a stale copy. The
    // last durable owner is kept too while only tabs remain (see `lastDurable`), and while none of
    // them can carry the domain (see `carries`).
    for (const d of Object.keys(this.owners)) {
      const owners = this.owners[Number(d)]!
      const rest = owners.filter((n) => n !== m.nodeId)
      const tabsOnly = !rest.some((n) => this.members.get(n)?.durable === true || this.carries(n))
      if (rest.some((n) => this.members.has(n)) && !(m.durable && (this.lastDurable(owners, m.nodeId) || tabsOnly))) this.owners[Number(d)] = rest
    }
    this.publish()
  }

  /**
   * A node came back with empty storage under an id the owner lists still name: it holds none of
   * those copies. It stops being an owner wherever another owner is listed (up or down: the
   * domain then waits for that one, and heals to this node later). Where it was the only owner,
   * the data is gone with its disk: it stays listed, so no empty copy is ever taken for the
   * domain's data, and the domains are returned for the node to refuse until the operator
   * accepts the loss.
   */
  private forgetCopiesOf(node: NodeId): number[] {
    const lost: number[] = []
    for (const [d, owners] of Object.entries(this.owners)) {
      if (!owners.includes(node)) continue
      if (owners.length > 1) this.owners[Number(d)] = owners.filter((o) => o !== node)
      else lost.push(Number(d))
    }
    return lost
  }

  /**
   * A finished copy makes its target an owner, but only as reported by a listed owner: a
   * deposed primary that is no owner any more (dropped as lagging) and has not heard of it yet
   * (a paused node) copies its stale line, and its target, listed as owner, could later lead
   * without the writes the successor acknowledged (sim seed 288).
   */
  private addOwner(domain: number, node: NodeId, reporter: NodeId): void {
    if (domain >= this.opts.settings.domainCount) return
    const owners = this.owners[domain] ?? []
    if (!owners.includes(reporter)) return void this.stats.reportsIgnored++
    const target = targetsOf(placeDomain(this.view(), this.opts.settings, domain))
    if (!target.includes(node) || owners.includes(node) || !this.members.has(node)) return
    this.owners[domain] = [...owners, node]
    this.publishSoon()
  }

  /**
   * `node` is no longer a complete copy and must not become primary: the domain's primary
   * committed writes that `node`, an owner that is down, does not have, or `node` says so of its
   * own copy (damaged). Nobody else may say it: a backup, or a deposed primary back from a pause
   * on an old view, would have an up-to-date owner dropped. The last owner is never dropped.
   */
  private dropOwner(domain: number, node: NodeId, reporter: NodeId): void {
    const owners = this.owners[domain] ?? []
    if (!owners.includes(reporter) || !owners.includes(node) || owners.length < 2) return
    if (reporter !== node) {
      const view = this.view()
      const down = this.members.get(node)?.status !== 'up'
      if (!down || domainRoles(view, this.opts.settings, domain).primary !== reporter) return void this.stats.reportsIgnored++
      // Its primary (a tab) commits nothing meanwhile: the writes wait for a durable copy.
      if (this.lastDurable(owners, node)) return void this.stats.reportsIgnored++
    }
    this.owners[domain] = owners.filter((o) => o !== node)
    this.publishSoon()
  }

  /**
   * Whether `node` is the only durable one among `owners` while a durable member is up. It stays
   * listed then, down or gone: dropped, the tabs alone would be the domain's owners, and a tab that
   * closes takes its copy for good (fault seed 7400: a tab dropped its durable owner, closed, and
   * the domain never had a primary again). Listed, it holds the tab's commits until a durable
   * member (the stand-in, placement.ts) owns a copy, and the domain waits for it if the tabs go.
   * With no durable member up, tabs carry the cluster alone, as they do without Node peers.
   */
  private lastDurable(owners: readonly NodeId[], node: NodeId): boolean {
    if (this.members.get(node)?.durable === false || owners.some((o) => o !== node && this.durableOwner(o))) return false
    return this.durableUp()
  }

  /** A member on files; or a node that left the view yet is still listed: it was kept as a domain's last (durable) copy. */
  private durableOwner(n: NodeId): boolean {
    return this.members.get(n)?.durable ?? true
  }

  /**
   * A member that can carry a domain now: up, and heard from by this service. A durable owner
   * that leaves is dropped for tabs only if one of them carries: a tab that is down too (every
   * member went down at once, and the removals came in whatever order), or one that this
   * restarted service has not heard from yet (it may have closed meanwhile), may be gone with its
   * copy for good, and the domain would wait for it for ever while the durable owner's disk holds
   * all that was acknowledged (sim --tabs seeds 1 and 18; test/topology/durable-departure.test.ts).
   */
  private carries(n: NodeId): boolean {
    const m = this.members.get(n)
    return m !== undefined && m.status === 'up' && m.link !== undefined
  }

  private durableUp(): boolean {
    for (const m of this.members.values()) if (m.durable && m.status === 'up') return true
    return false
  }

  /**
   * Ownership changes come one per finished copy, often many a second: they are gathered into
   * one view per `OWNER_BATCH_MS`. Membership changes are published at once.
   */
  private publishSoon(): void {
    if (this.batch) return
    this.batch = this.opts.clock.setTimeout(() => {
      this.batch = undefined
      this.publish()
    }, OWNER_BATCH_MS)
  }

  /**
   * Keeps each domain's owner list true. A domain that never had owners (a new cluster) starts
   * with its targets; after that a list is never refilled by guesswork: owners only join by a
   * finished copy (`owned`) and only leave when another owner is sure to hold everything
   * (`lagging`, or a departure while another owner remains). Owners that are not targets any
   * more are dropped only once every target owns the domain and is up: until then they may hold
   * the only complete copy.
   */
  private reconcileOwners(): void {
    const view = this.view()
    const up = (n: NodeId) => this.members.get(n)?.status === 'up'
    const next: Record<number, NodeId[]> = {}
    for (let d = 0; d < this.opts.settings.domainCount; d++) {
      const target = targetsOf(placeDomain(view, this.opts.settings, d))
      const listed = this.owners[d]
      if (this.waitingDomains.has(d)) {
        next[d] = [...(listed ?? [])]
        continue
      }
      if (!listed || listed.length === 0) {
        if (target.length > 0) next[d] = [...target]
        continue
      }
      const present = listed.filter((n) => this.members.has(n))
      // Owners that all left hold the only copies: keep them listed (the domain waits for one). So
      // does a durable owner that left while only tabs remain (`lastDurable`), or while none of the
      // tabs carries the domain (`carries`).
      const keepGone = present.length === 0 || (!present.some((n) => this.durableOwner(n)) && (this.durableUp() || !present.some((n) => this.carries(n))))
      let owners = keepGone ? [...listed] : present
      // Targets this restarted service has not heard from yet do not count (see `carries`).
      if (target.length > 0 && target.every((t) => owners.includes(t) && this.carries(t))) owners = owners.filter((o) => target.includes(o))
      next[d] = owners
    }
    this.owners = next
  }

  private state(): TopologyState {
    const members = [...this.members.values()].map((m) => ({ nodeId: m.nodeId, status: m.status, engines: m.engines, ...(m.durable ? { durable: true } : {}), ...(m.keyHash !== undefined ? { keyHash: m.keyHash } : {}) }))
    return { clusterId: this.opts.clusterId, settings: this.opts.settings, epoch: this.epoch, members, owners: { ...this.owners }, ...(this.waitingDomains.size > 0 ? { waiting: [...this.waitingDomains] } : {}) }
  }

  /**
   * A new view: saved first, then sent (a view nobody could load again after a restart must
   * never be seen, or an epoch could go back). `newcomer` gets it in its welcome instead.
   */
  private publish(newcomer?: { member: Member; link: TopologyLink; welcome: (view: View) => void }): void {
    if (this.closed || this.failure) return
    if (this.batch) this.opts.clock.clearTimeout(this.batch)
    this.batch = undefined
    this.reconcileOwners()
    this.epoch++
    const view = this.view()
    const state = this.state()
    this.saving = this.saving
      .then(() => this.store.save(state))
      .then(
        () => {
          if (this.closed) return
          // A link still waiting for its welcome gets no view before it (its welcome comes in order).
          for (const m of this.members.values()) if (m.link && m.welcomed && m.link !== newcomer?.link) m.link.send({ type: 'view', view })
          if (newcomer && this.members.get(newcomer.member.nodeId)?.link === newcomer.link) {
            newcomer.member.welcomed = true
            // Its heartbeats start at the welcome: a slow save must not count as missed ones.
            newcomer.member.lastSeen = this.opts.clock.now()
            newcomer.welcome(view)
          }
          this.clients.broadcast(view)
          this.events.emit('view', { view })
        },
        (err: unknown) => this.fail(new TopologyStateError('save', (err as Error).message)),
      )
  }

  /**
   * Whether a member is live as this service sees it: up, and heard from within its heartbeat
   * allowance. A newcomer heartbeats only once welcomed, and its welcome waits for the view to be
   * saved: under load (a slow disk, etcd) that took longer than the allowance, and the node,
   * closed before its welcome, took it as a refusal and did not start. Its allowance starts at
   * the welcome. A member loaded from the saved state has no link yet: it is live for the
   * allowance it was given to reconnect (so nobody takes its id while it does).
   */
  private isLive(m: Member): boolean {
    if (m.status !== 'up') return false
    if (m.link && !m.welcomed) return true
    return this.opts.clock.now() - m.lastSeen <= this.heartbeatMs * (this.opts.missedHeartbeats ?? 3)
  }

  /** Marks members down whose heartbeats stopped. */
  private armSweeper(): void {
    this.sweeper = this.opts.clock.setTimeout(() => {
      for (const m of [...this.members.values()]) if (m.status === 'up' && !this.isLive(m)) this.markDown(m, 'missed heartbeats')
      if (!this.closed) this.armSweeper()
    }, this.heartbeatMs)
  }
}
