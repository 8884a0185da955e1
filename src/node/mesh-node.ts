/**
 * A running domainmesh node. It wires the parts together (storage, transport, router, messenger,
 * engines) and holds no protocol logic of its own.
 */
import { ClosedError, TimeoutError } from '../errors.js'
import { engineId as toEngineId, virtualServerId as toVs, type ClusterId, type NodeId, type VirtualServerId } from '../ids.js'
import { StateManager, type Health } from '../replication/state-manager.js'
import { Store } from '../store/store.js'
import { MemberBackend } from '../store/member-backend.js'
import { StoreEngine } from '../store/store-engine.js'
import { MessengerStatePort } from '../store/port.js'
import { TopologyManager } from '../topology/manager.js'
import { TopologyClient, type TopologyConnector } from '../topology/client.js'
import { DomainPersistence } from '../persistence/persistence.js'
import { websocketFailoverConnector } from '../topology/failover.js'
import type { WebSocketConstructor } from '../topology/ws-link.js'
import { LastView } from './last-view.js'
import { STORE_ENGINE_ID, STORE_ENGINE_INFO } from '../store/store-engine.js'
import { DEFAULT_SETTINGS, type ClusterSettings, type View } from '../topology/view.js'
import type { Address, ExactAddress } from '../routing/address.js'
import type { Directory, Engine, EngineInfo } from '../routing/engine.js'
import { Messenger, type MessengerMetrics } from '../routing/messenger.js'
import { Router } from '../routing/router.js'
import type { Storage } from '../storage/storage.js'
import type { Transport } from '../transport/transport.js'
import type { MeshTransport } from '../transport/webrtc.js'
import { RealClock, sleep, type Clock } from '../util/clock.js'
import type { Random } from '../util/random.js'
import { loadNodeId, loadNodeKey } from './identity.js'
import { RttProbe } from './rtt.js'
import { checkSettings, checkTuning, type StoreTuning } from './settings.js'

export { InvalidSettingsError, type StoreTuning } from './settings.js'
import { SessionClient, type SessionClientOptions } from '../session/client.js'
import { SESSION_ENGINE_ID, SESSION_ENGINE_INFO, SESSION_ENGINE_TYPE, SessionEngine } from '../session/engine.js'
import type { HealingProgress, HealingStep } from '../healing/healing.js'
import { Emitter } from '../util/events.js'
import type { HistogramSnapshot } from '../util/histogram.js'
import { DEFAULT_LIMITS } from '../objects/guard.js'
import type { ClientDoorway, GateContext } from '../auth/gate.js'
import { UnauthorizedError } from '../auth/credentials.js'

export interface MeshNodeOptions {
  clusterId: ClusterId
  transport: Transport
  storage: Storage
  /** Used on first start; afterwards the id stored with the data wins (a different one is an error). */
  nodeId?: NodeId
  clock?: Clock
  /** Random numbers in [0, 1) for the store's retry jitter (default Math.random); tests and the simulation pass a seeded one. */
  random?: Random
  /** Random bytes for session ids (default crypto.getRandomValues, which production must keep: session ids are unguessable); the simulation passes a seeded source. */
  randomBytes?: (bytes: Uint8Array) => Uint8Array
  /** The messenger's first request id (tests only; default random, see Messenger). */
  firstRequestId?: number
  /** Who is in the cluster; by default the topology manager's current view. */
  directory?: Directory
  requestTimeoutMs?: number
  maxMalformedPerPeer?: number
  /** Used without a topology service; with one, the service's settings apply. */
  settings?: Partial<ClusterSettings>
  store?: StoreTuning
  /** Join through a topology service (views, failure detection, healing, signaling). */
  /**
   * `urls`: several topology instances (over etcd); each reconnect tries the next if its own is
   * gone. The WebSocket is the global one (browsers) unless given; the Node entry passes `ws`.
   */
  topology?: ({ connect: TopologyConnector } | { urls: readonly string[]; WebSocket?: WebSocketConstructor }) & MemberCredential
  /** Measure the round-trip time to every peer this often (off by default). */
  rttIntervalMs?: number
  /** The cluster secret, which signs failover tokens; defaults to the topology secret. Without one there are no sessions. */
  secret?: string
  /** Session lifetime after its last write, unless a session asks for another (default 30 min). */
  sessionTtlMs?: number
  /**
   * Whether this node is a durable member: placement keeps a copy of every domain on a durable
   * member when one is in the view, and lets it lead before ephemeral ones. Default: the storage's
   * own `durable` (true for FileStorage; false for memory and for IndexedDB, because a browser tab
   * may close at any moment and its data may never come back).
   */
  durable?: boolean
  /**
   * Serve clients (browser tabs of an app's users, `MeshClient`): `serveClients({ publicKey,
   * authorize })` (the Node entry's checks tokens with jose; in a browser pass `verifyJwt` too).
   * Without it, a client's link gets nothing but UnauthorizedError.
   */
  clients?: (ctx: GateContext) => ClientDoorway
}

/**
 * How a member proves it may join: the cluster secret, or (a trusted browser tab that should not
 * hold the secret) a member token from the operator (`issueMemberToken`: role 'member', this
 * node's id as subject), asked for on every hello. A member without the secret hosts no sessions.
 */
export type MemberCredential = { secret: string; token?: undefined } | { token: () => string | Promise<string>; secret?: undefined }

export interface NodeStatus {
  /** Members this node has an open data channel to (clients' links left out: `clientLinks`). */
  peers: NodeId[]
  /** Clients (MeshClient) linked to this member now. */
  clientLinks: number
  /** Its current (or last) healing round; `startedAt` is on its clock. */
  healing: HealingProgress
}

export interface NodeMetrics extends MessengerMetrics {
  /** Writes this node committed as primary, from taking the write to its acknowledgement, in ms. */
  writeLatencyMs: HistogramSnapshot
  /** Per domain this node leads: log entries its slowest live backup has not acknowledged. */
  replicationLag: Record<number, number>
  nodeId: NodeId
  epoch: number
  peers: NodeId[]
  rttMs: Record<string, number>
  domainsPrimary: number
  domainsBackup: number
  objects: number
  /** Bytes of the objects kept encoded in memory, dead records not yet reclaimed included. */
  encodedBytes: number
  /** Log entries held in memory, all domains. */
  logEntries: number
  underReplicated: number
  healing: HealingProgress
  snapshotsSent: number
  snapshotsInstalled: number
  replicationDropped: number
  /** Stored replicas found damaged at start (dropped and rebuilt from peers). */
  damagedDomains: number
}

/**
 * What a node tells its application (`node.events`), one payload object per event. Listeners may
 * be added before `start()`. A listener that throws does not stop the others (see Emitter).
 */
export interface NodeEvents {
  /** This node took a newer membership view (from the topology service, or `applyView`). */
  view: { view: View }
  /** A view changed this node's role for `domain`: it now leads it (`primary`) or follows (`backup`). */
  'role-changed': { domain: number; role: 'primary' | 'backup'; epoch: number }
  /** One self-healing copy finished (or failed, `error`): `domainsDone / domainsTotal` of this round, bytes, lock time. */
  healing: HealingStep
  /**
   * `health()` changed: told after a view, a healing step, a finished copy or a damaged copy found,
   * whenever it differs from the last one told (computed only while someone listens).
   */
  health: { health: Health }
}

const isMeshTransport = (t: Transport): t is MeshTransport => 'attachSignaling' in t && 'setMembers' in t

export class MeshNode {
  readonly clusterId: ClusterId
  readonly clock: Clock
  readonly storage: Storage
  readonly transport: Transport
  readonly directory: Directory
  readonly topology: TopologyManager
  /** Views, role changes, healing progress and health, as they happen (see NodeEvents). */
  readonly events = new Emitter<NodeEvents>()
  /** The last health told (`health` event), as JSON, to tell only changes. */
  private healthTold: string | undefined
  private settingsRef: ClusterSettings
  private client: TopologyClient | undefined
  private id: NodeId | undefined
  private stateRef: StateManager | undefined
  private storeEngine: StoreEngine | undefined
  private port: MessengerStatePort | undefined
  private rtt: RttProbe | undefined
  private sessionEngine: SessionEngine | undefined
  private router: Router | undefined
  private messengerRef: Messenger | undefined
  private gate: ClientDoorway | undefined
  private backend: MemberBackend | undefined
  private phase: 'new' | 'starting' | 'running' | 'closed' = 'new'
  /** The hand-over wait of a `close` in progress (a second call waits for the same one). */
  private closing: Promise<void> | undefined

  constructor(private readonly opts: MeshNodeOptions) {
    this.clusterId = opts.clusterId
    this.clock = opts.clock ?? new RealClock()
    this.storage = opts.storage
    this.transport = opts.transport
    this.settingsRef = checkSettings({ ...DEFAULT_SETTINGS, ...opts.settings })
    checkTuning(opts.store ?? {})
    this.topology = new TopologyManager((view) => this.stateRef?.applyView(view))
    this.directory = opts.directory ?? this.topology
    this.topology.events.on('view', ({ view }) => {
      this.events.emit('view', { view })
      this.tellHealth()
    })
  }

  /** Whether this node joins as a durable member (see MeshNodeOptions.durable). */
  get durable(): boolean {
    return this.opts.durable ?? this.storage.durable === true
  }

  get settings(): ClusterSettings {
    return this.settingsRef
  }

  /** The link to the topology service, when the node joined through one. */
  get topologyClient(): TopologyClient | undefined {
    return this.client
  }

  get state(): StateManager {
    if (!this.stateRef) throw new ClosedError('node (not started)')
    return this.stateRef
  }

  get nodeId(): NodeId {
    if (!this.id) throw new ClosedError('node (not started)')
    return this.id
  }

  get messenger(): Messenger {
    if (!this.messengerRef) throw new ClosedError('node (not started)')
    return this.messengerRef
  }

  async start(): Promise<this> {
    if (this.phase !== 'new') throw new ClosedError('node (already started)')
    this.phase = 'starting'
    const id = await loadNodeId(this.storage, this.opts.nodeId)
    this.id = id
    const router = new Router(this.clusterId, id, this.directory, (n) => this.transport.linked(n))
    const mesh = isMeshTransport(this.transport) ? this.transport : undefined
    const gate = this.opts.clients?.({
      clusterId: this.clusterId,
      now: () => this.clock.now(),
      store: (req) => this.storeEngine!.handle(req),
      session: (req) => (this.sessionEngine ? this.sessionEngine.handle(req) : Promise.reject(new ClosedError('sessions (this member has no cluster secret)'))),
      listen: (pattern, listener) => this.storeEngine!.watches.addLocal(pattern, listener),
      announce: () => this.storeEngine?.announceWatchesConfirmed(this.memberPeers()) ?? Promise.resolve(),
      notify: (client, method, body) => this.messenger.notifyLink(this.address('store'), { clusterId: this.clusterId, nodeId: client, engineId: STORE_ENGINE_ID }, method, body),
    })
    this.gate = gate
    const isClient = (peer: NodeId): boolean => mesh?.isClient?.(peer) === true
    this.messengerRef = new Messenger({
      clients: { isClient, handle: (req) => (gate ? gate.handle(req) : Promise.reject(new UnauthorizedError('this member serves no clients'))) },
      clusterId: this.clusterId,
      nodeId: id,
      transport: this.transport,
      router,
      clock: this.clock,
      ...(this.opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.opts.requestTimeoutMs } : {}),
      ...(this.opts.maxMalformedPerPeer !== undefined ? { maxMalformedPerPeer: this.opts.maxMalformedPerPeer } : {}),
      ...(this.opts.randomBytes ? { randomBytes: this.opts.randomBytes } : {}),
      ...(this.opts.firstRequestId !== undefined ? { firstRequestId: this.opts.firstRequestId } : {}),
    })
    let lost: number[] = []
    if (this.opts.topology) {
      const lastView = new LastView(this.storage, (error) => this.stateRef?.events.emit('replica-error', { domain: -1, error }))
      await lastView.load()
      // Nothing on this storage: if the service lists this id as an owner, those copies are gone.
      const fresh = lastView.view === undefined && (await DomainPersistence.storedDomains(this.storage)).length === 0
      const client = new TopologyClient({
        clusterId: this.clusterId,
        nodeId: id,
        ...(this.opts.topology.secret !== undefined ? { secret: this.opts.topology.secret } : {}),
        ...(this.opts.topology.token ? { memberToken: async () => (await this.opts.topology!.token!()) as string } : {}),
        key: await loadNodeKey(this.storage),
        // A list of instances: each reconnect tries the next one if its own is gone.
        connect: 'urls' in this.opts.topology ? websocketFailoverConnector(this.opts.topology.urls, this.opts.topology.WebSocket) : this.opts.topology.connect,
        clock: this.clock,
        engines: () => this.advertisedEngines(),
        durable: this.durable,
        lastView: () => (this.topology.view().epoch > 0 ? this.topology.view() : lastView.view),
        copies: () => this.stateRef?.positions(),
        fresh,
      })
      client.events.on('view', ({ view }) => lastView.save(view))
      this.client = client
      mesh?.attachSignaling(client.signaling())
      client.events.on('view', ({ view }) => {
        mesh?.setMembers(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
        this.topology.applyView(view)
      })
      client.events.on('connected', () => mesh?.redialPending?.())
      const welcome = await client.connect()
      this.settingsRef = welcome.settings
      lost = welcome.lost
    }
    const { limits, ...tuning } = this.opts.store ?? {}
    const port = new MessengerStatePort(this.clusterId, id, this.messengerRef, (n) => this.transport.linked(n))
    this.port = port
    this.stateRef = new StateManager({
      self: id,
      storage: this.storage,
      clock: this.clock,
      port,
      settings: this.settings,
      ...tuning,
      ...(limits ? { limits: { ...DEFAULT_LIMITS, ...limits } } : {}),
    })
    await this.stateRef.open()
    await this.stateRef.markLost(lost)
    this.client?.sendCopies()
    this.storeEngine = new StoreEngine(id, port, this.stateRef, () => this.status(), this.clock)
    router.register(this.storeEngine)
    const secret = this.opts.secret ?? this.opts.topology?.secret
    if (secret) {
      this.sessionEngine = new SessionEngine({
        self: id,
        secret,
        clock: this.clock,
        replicas: () => this.settingsRef.replicas,
        upNodes: () => this.sessionNodes().filter((n) => n !== id),
        liveNodes: () => this.sessionNodes().filter((n) => n !== id && this.transport.linked(n)),
        request: (to, method, body, timeoutMs) => this.messenger.request(this.address('session'), this.sessionAddress(to), method, body, timeoutMs),
        ...(limits ? { limits: { ...DEFAULT_LIMITS, ...limits } } : {}),
        ...(this.opts.sessionTtlMs ? { defaultTtlMs: this.opts.sessionTtlMs } : {}),
        ...(this.opts.randomBytes ? { randomBytes: this.opts.randomBytes } : {}),
      })
      router.register(this.sessionEngine)
      this.topology.events.on('view', () => void this.sessionEngine?.onView())
    }
    this.router = router
    this.transport.on('peer-up', ({ peer }) => {
      if (isClient(peer)) return
      if (this.storeEngine?.watches.hasLocal()) this.storeEngine.announceWatches([peer])
      this.stateRef?.linkUp(peer)
    })
    this.transport.on('peer-down', ({ peer }) => {
      if (isClient(peer)) return gate?.dropped(peer)
      this.client?.report(peer)
    })
    this.stateRef.events.on('copied', ({ domain, target }) => this.client?.owned(domain, target))
    this.stateRef.events.on('lagging', ({ domain, node }) => this.client?.lagging(domain, node))
    this.stateRef.events.on('role-changed', (e) => this.events.emit('role-changed', e))
    this.stateRef.events.on('healing', (step) => {
      this.events.emit('healing', step)
      this.tellHealth()
    })
    this.stateRef.events.on('copied', () => this.tellHealth())
    this.stateRef.events.on('corrupt', () => this.tellHealth())
    await this.transport.connect(id)
    if (this.topology.view().epoch > 0) this.stateRef.applyView(this.topology.view())
    if (this.opts.rttIntervalMs) {
      this.rtt = new RttProbe(this.clock, () => this.memberPeers(), (p) => this.ping(p), this.opts.rttIntervalMs)
      this.rtt.start()
    }
    this.phase = 'running'
    return this
  }

  /** The replicated store of one virtual server. */
  store(virtualServer: string | VirtualServerId): Store {
    if (!this.storeEngine || !this.stateRef || !this.port) throw new ClosedError('node (not started)')
    this.backend ??= new MemberBackend(this.nodeId, this.storeEngine, this.stateRef, this.port, () => this.memberPeers())
    return new Store(toVs(virtualServer), this.backend, this.clock, this.opts.random ?? Math.random)
  }

  /**
   * A session client for one virtual server. It sends to the node that serves it, keeps the
   * newest failover token, and fails over to the token's backups when that node is gone.
   */
  sessions(opts: SessionClientOptions): SessionClient {
    if (!this.sessionEngine) throw new ClosedError('sessions (the node has no cluster secret, or is not started)')
    return new SessionClient(
      {
        self: this.nodeId,
        sessionNodes: () => this.sessionNodes(),
        request: (to, method, body, timeoutMs) => this.messenger.request(this.address('session-client'), { ...this.sessionAddress(to), virtualServerId: toVs(opts.virtualServer) }, method, body, timeoutMs),
      },
      opts,
    )
  }

  /** The local session engine (tests and displays). */
  get sessionTable(): SessionEngine['table'] | undefined {
    return this.sessionEngine?.table
  }

  /** Clients whose sessions this node holds only until another line adopts them (0 without sessions). */
  get sessionHandoffsPending(): number {
    return this.sessionEngine?.handoffsPending ?? 0
  }

  /** Peers linked now that are members (not clients). */
  private memberPeers(): NodeId[] {
    const mesh = isMeshTransport(this.transport) ? this.transport : undefined
    return this.transport.peers().filter((p) => mesh?.isClient?.(p) !== true)
  }

  /** What the client gate did: calls served, and refused as unauthorized or forbidden. */
  get clientStats(): ClientDoorway['stats'] | undefined {
    return this.gate?.stats
  }

  private sessionNodes(): NodeId[] {
    return this.topology
      .view()
      .members.filter((m) => m.status === 'up' && m.engines.some((e) => e.engineType === SESSION_ENGINE_TYPE))
      .map((m) => m.nodeId)
  }

  private sessionAddress(node: NodeId): ExactAddress {
    return { clusterId: this.clusterId, nodeId: node, engineId: SESSION_ENGINE_ID }
  }

  /** Feeds a membership view (from the topology service, or a static topology). */
  applyView(view: View): boolean {
    return this.topology.applyView(view)
  }

  registerEngine(engine: Engine): () => void {
    if (!this.router) throw new ClosedError('node (not started)')
    const off = this.router.register(engine)
    this.client?.updateEngines(this.advertisedEngines())
    return () => {
      off()
      this.client?.updateEngines(this.advertisedEngines())
    }
  }

  /** What this node tells the cluster it hosts (the store engine is always there). */
  private advertisedEngines(): EngineInfo[] {
    const local = this.router?.localEngines() ?? []
    const builtIn = [STORE_ENGINE_INFO, ...(this.opts.secret ?? this.opts.topology?.secret ? [SESSION_ENGINE_INFO] : [])]
    return [...builtIn.filter((b) => !local.some((e) => e.engineId === b.engineId)), ...local]
  }

  engines(): EngineInfo[] {
    return this.router?.localEngines() ?? []
  }

  /** The exact address of one of this node's engines. */
  address(engineId: string): ExactAddress {
    return { clusterId: this.clusterId, nodeId: this.nodeId, engineId: toEngineId(engineId) }
  }

  request(from: ExactAddress, to: Address, method: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    return this.messenger.request(from, to, method, body, timeoutMs)
  }

  /**
   * Resolves once this node is an up member of the view it holds (with at least `members` up
   * members, default 1) and every domain it leads has its replicas: `replicas` copies (or one per
   * member, in a smaller cluster), none still being copied, none damaged, none still fetching
   * what the other owners hold (after a promotion or a restart). A write acknowledged
   * after that carries every replica in its ack. Right after `start()` replication is still
   * forming, and a write is acknowledged by fewer copies (`replicas: 1`). A node that starts
   * later counts once the view that has it arrives: pass `members` to wait for it. Checked every
   * 20 ms of the node's clock; rejects with a TimeoutError after `timeoutMs` (default 30 s) and a
   * ClosedError if the node closes first.
   */
  async ready(opts: { members?: number; timeoutMs?: number } = {}): Promise<void> {
    const members = opts.members ?? 1
    const timeoutMs = opts.timeoutMs ?? 30_000
    const until = this.clock.now() + timeoutMs
    for (;;) {
      if (this.phase === 'closed') throw new ClosedError('node')
      if (this.phase === 'running' && this.isReady(members)) return
      if (this.clock.now() >= until) throw new TimeoutError('node.ready', timeoutMs, this.phase === 'running' ? { health: this.health() } : {})
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 20))
    }
  }

  private isReady(members: number): boolean {
    const view = this.topology.view()
    const up = view.members.filter((m) => m.status === 'up')
    if (up.length < members || !up.some((m) => m.nodeId === this.id)) return false
    const health = this.state.health()
    return health.epoch === view.epoch && health.safe && health.syncing.length === 0
  }

  /** Under-replicated domains this node leads, healing in progress, and whether it is safe to stop. */
  health(): Health {
    return this.state.health()
  }

  /** Emits `health` if it changed since the last one told (and only while someone listens). */
  private tellHealth(): void {
    if (this.phase !== 'running' || !this.stateRef || this.events.listenerCount('health') === 0) return
    const health = this.stateRef.health()
    const json = JSON.stringify(health)
    if (json === this.healthTold) return
    this.healthTold = json
    this.events.emit('health', { health })
  }

  metrics(): NodeMetrics {
    const domains = this.state.domains()
    const health = this.state.health()
    return {
      nodeId: this.nodeId,
      epoch: health.epoch,
      peers: this.memberPeers(),
      rttMs: Object.fromEntries(this.rtt?.rttMs ?? []),
      domainsPrimary: domains.filter((d) => d.role === 'primary').length,
      domainsBackup: domains.filter((d) => d.role === 'backup').length,
      objects: domains.reduce((n, d) => n + d.objects, 0),
      encodedBytes: domains.reduce((n, d) => n + d.encodedBytes, 0),
      logEntries: domains.reduce((n, d) => n + d.logEntries, 0),
      underReplicated: health.underReplicated.length,
      healing: health.healing,
      snapshotsSent: this.state.stats.snapshotsSent,
      snapshotsInstalled: this.state.stats.snapshotsInstalled,
      replicationDropped: this.port?.dropped ?? 0,
      damagedDomains: this.state.damaged.length,
      writeLatencyMs: this.storeEngine?.writeLatency.snapshot() ?? { buckets: [], sum: 0, count: 0 },
      replicationLag: Object.fromEntries(this.state.replicationLag().map((l) => [l.domain, l.entries])),
      ...this.messenger.metrics,
    }
  }

  /** This node's open links and healing round (what `statusOf` asks another node for). */
  status(): NodeStatus {
    const peers = this.memberPeers()
    return { peers, clientLinks: this.transport.peers().length - peers.length, healing: this.state.health().healing }
  }

  /**
   * Another node's `status`: which members it has a data channel to, and how far its healing is.
   * A page draws the mesh and the cluster-wide healing from these (the demo does).
   */
  async statusOf(peer: NodeId): Promise<NodeStatus> {
    if (!this.port) throw new ClosedError('node (not started)')
    return (await this.port.request(peer, 'status', {})) as NodeStatus
  }

  /** Round trip to a peer's store engine, in ms of this node's clock. */
  async ping(peer: NodeId): Promise<number> {
    if (!this.port) throw new ClosedError('node (not started)')
    const t0 = this.clock.now()
    await this.port.request(peer, 'ping', {})
    return this.clock.now() - t0
  }

  private stopped(): boolean {
    return this.phase === 'closed'
  }

  /** Waits until this node holds no domain alone that an up member is being healed with (see `close`). */
  private async handOver(maxMs: number): Promise<void> {
    const end = this.clock.now() + maxMs
    while (this.phase === 'running' && (this.stateRef?.soleHeld().length ?? 0) > 0 && this.clock.now() < end) await sleep(this.clock, 50)
  }

  /**
   * Stops every timer and link at once and writes nothing more: what a crash leaves behind (for
   * simulations and tests; a real shutdown uses close()).
   */
  halt(): void {
    this.phase = 'closed'
    this.rtt?.stop()
    this.sessionEngine?.close()
    this.client?.close()
    this.stateRef?.halt()
    this.messengerRef?.close()
  }

  /**
   * Leaves the way a user closing a tab means it: an ephemeral node first waits, for at most
   * `handOverMs` (default 15 s; 0: not at all), while it alone holds a domain that an up member
   * is being healed with (after a full stop, tabs may hold the only copy of what they
   * acknowledged until the Node peers have it again); then everything stops. A durable node
   * (files) does not wait: its copies stay on its disk.
   */
  async close(opts: { handOverMs?: number } = {}): Promise<void> {
    if (this.phase === 'closed') return
    this.closing ??= this.handOver(opts.handOverMs ?? 15_000)
    await this.closing
    if (this.stopped()) return // halted, or closed by another call, while it waited
    this.phase = 'closed'
    this.rtt?.stop()
    this.sessionEngine?.close()
    this.client?.close()
    await this.stateRef?.close()
    this.messengerRef?.close()
    await this.transport.close()
    await this.storage.close()
  }
}
