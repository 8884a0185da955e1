/**
 * One of several stateless topology instances that share a cluster's state in etcd (Node only:
 * loaded with a dynamic import by ws-server.ts, never by the browser build). Design and the keys
 * under `/<prefix>/<cluster>/`: docs/design.md, "Several topology instances over etcd".
 *
 * Every instance is a gateway for the nodes connected to it: it checks their hellos, holds each
 * admitted node with a lease kept alive while the node heartbeats, sends them the views it sees in
 * etcd and carries their signals. The instance that holds the `leader` key also runs the
 * unchanged TopologyService, fed by one ProxyLink per node, whose state is saved with a
 * compare-and-set on the state key's revision and on the leader key.
 */
import { ExponentialBackoff, handleWhen, retry, circuitBreaker, ConsecutiveBreaker } from 'cockatiel'
import { Etcd3, EtcdLeaseInvalidError, isRecoverableError, type IKeyValue, type Lease, type Watcher } from 'etcd3'
import { DomainMeshError } from '../errors.js'
import { isValidId, type NodeId } from '../ids.js'
import { helloProof, randomNonce } from '../topology/auth.js'
import type { ClientMessage, HelloMessage, TopologyLink } from '../topology/protocol.js'
import type { ClusterSettings, View } from '../topology/view.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { hmacSha256Hex } from '../util/hmac.js'
import { EtcdConfigMismatchError } from './etcd-errors.js'
import { LinkGate } from './link-gate.js'
import { ClientDesk } from './client-desk.js'
import { HelloCheck } from './hello-check.js'
import { nodeKeyHash, takeOverRefusal } from './node-keys.js'
import { TopologyService, type TopologyServiceOptions } from './topology-service.js'
import { parseTopologyState, TopologyStateError, type TopologyState, type TopologyStateStore } from './topology-state.js'

export interface EtcdTopologyOptions {
  /** etcd client URLs, e.g. http://10.0.0.1:2379 (any member; the client moves between them). */
  hosts: readonly string[]
  /** Keys go under `/<prefix>/<cluster>/` (default "domainmesh"). */
  prefix?: string
  /** This instance's id in etcd (default: random). */
  instanceId?: string
  /** TTL of the instance's lease, which holds the leader key: how long a dead leader is waited for (default 3 s). */
  leaseTtlSeconds?: number
}

export interface EtcdInstanceEvents {
  view: { view: View }
  refused: { reason: string }
  recovering: { epoch: number; domains: number }
  /** This instance became the leader (runs the service logic) or stopped being it. */
  leader: { leading: boolean; reason: string }
  /** Something failed in etcd; the instance goes on (retrying, or closing the links concerned). */
  'etcd-error': { error: Error }
}

/** What an instance puts under `instances/<id>` and checks against the others' (see `config`). */
interface InstanceConfig {
  secretCheck: string
  settings: ClusterSettings
  heartbeatMs: number
  healDelayMs: number
  missedHeartbeats: number
}

export class EtcdTopologyError extends DomainMeshError {
  constructor(what: string, cause: unknown) {
    super('ETCD_TOPOLOGY', `etcd topology: ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { what })
    this.cause = cause
  }
}

/** What a gateway writes in `members/<node>`: enough for a leader to admit the node. */
interface MemberRecord {
  instance: string
  session: string
  engines: HelloMessage['engines']
  durable: boolean
  lastView?: HelloMessage['lastView']
  /** The node's storage came back empty (see the hello's `fresh`): the leader drops its listed copies. */
  fresh?: boolean
  /** The hash of the node key its hello showed (node-keys.ts): while this key exists, only that key takes the id. */
  keyHash?: string
}

/** What goes to `inbox/<node>/…`: a message for the node, for one link (`session`) or any (signals). */
interface MailRecord {
  session?: string
  msg: { type: string; [k: string]: unknown }
}

/** A node connected to this instance. */
interface Attached {
  nodeId: NodeId
  session: string
  link: TopologyLink
  lease: Lease
  lastKeepalive: number
  welcomed: boolean
  /** The last epoch sent to it. */
  epoch: number
  upSeq: number
  /** Its puts, one after another (the leader reads them in that order). */
  queue: Promise<void>
  record: MemberRecord
  gone: boolean
  /** Renews the lease until the welcome: the node heartbeats only once welcomed. */
  hold: TimerHandle | undefined
  /** A renewal is on its way (another is sent meanwhile only if it takes two heartbeats). */
  renewing: boolean
}

const MAIL_TTL_S = 10
const NODE_TTL_MIN_S = 2
/** The wait before an instance asks for a new lease after it lost one. */
const LEASE_RETRY_MS = 1000

export class EtcdTopologyInstance {
  readonly events = new Emitter<EtcdInstanceEvents>()
  readonly stats = { refused: 0, malformed: 0, malformedDisconnects: 0, signalsRelayed: 0, signalsViaEtcd: 0, linkErrors: 0, serverErrors: 0, leaderTerms: 0 }
  readonly instanceId: string
  /** The clients admitted here (client-desk.ts); their signals to members on other instances go by mail. */
  readonly clients: ClientDesk
  private readonly client: Etcd3
  private readonly root: string
  private readonly attached = new Map<NodeId, Attached>()
  /** Links not admitted yet: their hello deadline and the input rules (link-gate.ts). */
  private readonly gate: LinkGate
  /** Every member key, as the watch shows it. */
  private readonly members = new Map<NodeId, MemberRecord>()
  private latest: View | undefined
  private lease!: Lease
  private leaseId = ''
  private watcher: Watcher | undefined
  private mail: { lease: Lease; at: number } | undefined
  /** The last put of mail to each node: the next one waits for it (see sendMail). */
  private readonly outbox = new Map<NodeId, Promise<void>>()
  private leader: LeaderTerm | undefined
  private campaignTimer: TimerHandle | undefined
  /** The next try for an instance lease after one was lost (etcd unreachable). */
  private leaseRetry: TimerHandle | undefined
  private recordRetry: TimerHandle | undefined
  private closed = false
  /** A member's hello: cluster, id, timestamp, nonce, and its proof or member token (hello-check.ts). */
  private readonly hellos: HelloCheck
  /** Nodes whose member key this instance is putting: mail for that link that came first. */
  private readonly admitting = new Map<NodeId, { session: string; early: [string, MailRecord][] }>()
  private readonly nodeTtlS: number

  private constructor(
    readonly opts: EtcdTopologyOptions,
    private readonly service: Omit<TopologyServiceOptions, 'store'>,
  ) {
    this.instanceId = opts.instanceId ?? `i-${randomNonce().slice(0, 12)}`
    this.gate = new LinkGate({ clock: service.clock, maxWaitingLinks: service.maxWaitingLinks, helloTimeoutMs: service.helloTimeoutMs, maxMalformed: service.maxMalformed, stats: this.stats, refused: (reason) => this.events.emit('refused', { reason }) })
    this.root = `/${opts.prefix ?? 'domainmesh'}/${service.clusterId}/`
    this.hellos = new HelloCheck({ clusterId: service.clusterId, secret: service.secret, clock: service.clock, allowedNodes: service.allowedNodes, helloWindowMs: service.helloWindowMs, memberAuth: service.memberAuth, isClient: (id) => this.clients.has(id as NodeId) })
    this.clients = new ClientDesk({
      clusterId: service.clusterId,
      clock: service.clock,
      gate: this.gate,
      auth: service.clientAuth,
      maxClients: service.maxClients,
      isMember: (id) => this.members.has(id) || this.attached.has(id),
      toMember: (to, msg) => {
        const local = this.attached.get(to)
        if (local?.welcomed) local.link.send(msg)
        else if (this.members.has(to)) {
          this.stats.signalsViaEtcd++
          this.sendMail(to, { msg })
        } else return false
        return true
      },
      view: () => this.latest,
      welcome: () => ({ settings: service.settings, heartbeatMs: service.heartbeatMs ?? 1000, healDelayMs: service.healDelayMs ?? 5000 }),
    })
    const heartbeatMs = service.heartbeatMs ?? 1000
    // A node's lease lasts two heartbeats longer than the embedded service waits for missed ones,
    // and at least 2 s: etcd counts leases in whole seconds and each renewal is a round trip to
    // the etcd leader, so a 1 s lease expired under load while its node was heartbeating (live
    // nodes were marked down, or refused before their welcome). A node that crashes closes its
    // socket and is let go at once (its lease is revoked); the lease's length only matters when a
    // node hangs or its instance does. A node on a hung instance gives up on it after three
    // unanswered heartbeats (TopologyClient) and must be admitted at the next instance before its
    // lease runs out, or it would be marked down although alive: hence the two heartbeats more.
    this.nodeTtlS = Math.max(NODE_TTL_MIN_S, Math.ceil((heartbeatMs * ((service.missedHeartbeats ?? 3) + 2)) / 1000))
    this.client = new Etcd3({
      hosts: [...opts.hosts],
      dialTimeout: 2000,
      // Defaults wait up to 30 s before a watch reconnects and stop using a host for 5 s after
      // 3 failures; a topology instance must move to another member within a lease's TTL.
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
        // Spread over an etcd election (about a second), so a leader change is ridden out.
        global: retry(handleWhen(isRecoverableError), { maxAttempts: opts.hosts.length + 3, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }).next(),
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }),
    })
  }

  static async start(opts: EtcdTopologyOptions, service: Omit<TopologyServiceOptions, 'store'>): Promise<EtcdTopologyInstance> {
    const inst = new EtcdTopologyInstance(opts, service)
    try {
      await inst.init()
    } catch (err) {
      inst.client.close()
      if (err instanceof EtcdConfigMismatchError) throw err
      throw new EtcdTopologyError(`cannot start on ${opts.hosts.join(',')}`, err)
    }
    return inst
  }

  private get clock(): Clock {
    return this.service.clock
  }

  private key(rest: string): string {
    return this.root + rest
  }

  /**
   * What every instance of one cluster must agree on: the secret (as an HMAC of a fixed message,
   * never the secret itself), the settings and the timings of failure detection. An instance
   * started with another secret admitted nodes of that secret into the real cluster and could
   * lead it; one with other settings rewrote the cluster's replica count, or (another domain
   * count) campaigned and stepped down hundreds of times a second. Now it does not start.
   */
  private config(): InstanceConfig {
    const s = this.service
    return {
      secretCheck: hmacSha256Hex(s.secret, `domainmesh-etcd-instance\n${s.clusterId}`),
      settings: s.settings,
      heartbeatMs: s.heartbeatMs ?? 1000,
      healDelayMs: s.healDelayMs ?? 5000, // the service's own default
      missedHeartbeats: s.missedHeartbeats ?? 3,
    }
  }

  private checkConfig(kvs: IKeyValue[]): void {
    const mine = this.config()
    const differ = (other: InstanceConfig, where: string): string | undefined => {
      if (other.secretCheck !== mine.secretCheck) return `${where} uses another cluster secret`
      const diffs: string[] = []
      for (const k of ['domainCount', 'replicas'] as const) if (other.settings[k] !== mine.settings[k]) diffs.push(`${k} ${other.settings[k]} (here ${mine.settings[k]})`)
      for (const k of ['heartbeatMs', 'healDelayMs', 'missedHeartbeats'] as const) if (other[k] !== mine[k]) diffs.push(`${k} ${other[k]} (here ${mine[k]})`)
      return diffs.length > 0 ? `${where} runs with ${diffs.join(', ')}` : undefined
    }
    for (const kv of kvs) {
      const rest = kv.key.toString().slice(this.root.length)
      let why: string | undefined
      if (rest === 'check') {
        const stored = JSON.parse(kv.value.toString()) as { secretCheck: string }
        if (stored.secretCheck !== mine.secretCheck) why = 'the cluster in etcd was made with another cluster secret'
      } else if (rest === 'state') {
        const st = JSON.parse(kv.value.toString()) as { settings?: ClusterSettings }
        if (st.settings && (st.settings.domainCount !== mine.settings.domainCount || st.settings.replicas !== mine.settings.replicas)) {
          why = `the cluster in etcd runs with ${st.settings.domainCount} domains and replicas ${st.settings.replicas} (here ${mine.settings.domainCount} and ${mine.settings.replicas})`
        }
      } else if (rest.startsWith('instances/')) {
        why = differ(JSON.parse(kv.value.toString()) as InstanceConfig, `instance ${rest.slice('instances/'.length)}`)
      }
      if (why) throw new EtcdConfigMismatchError(why)
    }
  }

  private async init(): Promise<void> {
    await this.newLease()
    const all = await this.client.getAll().prefix(this.root).exec()
    this.checkConfig(all.kvs)
    // The secret's check is kept for good (a later instance with another secret is refused even
    // when none runs); the rest is per instance, under its lease.
    await this.client.if(this.key('check'), 'Version', '==', 0).then(this.client.put(this.key('check')).value(JSON.stringify({ secretCheck: this.config().secretCheck }))).commit()
    await this.lease.put(this.key(`instances/${this.instanceId}`)).value(JSON.stringify(this.config())).exec()
    for (const kv of all.kvs) this.onPut(kv)
    const watcher = await this.client
      .watch()
      .prefix(this.root)
      .startRevision(String(BigInt(all.header.revision) + 1n))
      .create()
    this.watcher = watcher
    watcher.on('put', (kv) => this.guard(() => this.onPut(kv)))
    watcher.on('delete', (kv) => this.guard(() => this.onDelete(kv)))
    watcher.on('error', (err) => this.report('watch', err))
    void this.campaign()
  }

  /**
   * A new instance lease, after a wait: while etcd has no quorum each new lease is lost at once,
   * and asking again at once spun at hundreds of error reports a second. Until one is granted.
   */
  private retryLease(): void {
    if (this.leaseRetry || this.closed) return
    this.leaseRetry = this.clock.setTimeout(() => {
      this.leaseRetry = undefined
      if (this.closed) return
      void this.newLease().then(
        () => {
          this.putRecord(this.lease)
          this.scheduleCampaign()
        },
        (e: unknown) => {
          this.report('new instance lease', e)
          this.retryLease()
        },
      )
    }, LEASE_RETRY_MS)
  }

  /**
   * This instance's record, which went with the old lease: the next instance to start checks its
   * options against it. Put again every LEASE_RETRY_MS until it lands while `lease` is ours: etcd
   * just back from a lost quorum may grant the lease and then refuse the put, and a record put
   * only once was missing for good (the instance led without one).
   */
  private putRecord(lease: Lease): void {
    lease
      .put(this.key(`instances/${this.instanceId}`))
      .value(JSON.stringify(this.config()))
      .exec()
      .catch((e: unknown) => {
        this.report('instance record', e)
        if (this.closed || this.lease !== lease || this.recordRetry) return
        this.recordRetry = this.clock.setTimeout(() => {
          this.recordRetry = undefined
          if (!this.closed && this.lease === lease) this.putRecord(lease)
        }, LEASE_RETRY_MS)
      })
  }

  /** The instance lease (holds the leader key). Lost (etcd unreachable past its TTL): every link is dropped and the instance starts over. */
  private async newLease(): Promise<void> {
    const lease = this.client.lease(this.opts.leaseTtlSeconds ?? 3)
    this.lease = lease
    lease.on('lost', (err) => {
      if (this.lease !== lease || this.closed) return
      this.report('instance lease lost', err)
      this.stepDown('instance lease lost')
      for (const a of [...this.attached.values()]) a.link.close('topology instance lost etcd')
      this.retryLease()
    })
    this.leaseId = await lease.grant()
  }

  private guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.report('handling a watch event', err)
    }
  }

  private report(what: string, err: unknown): void {
    if (this.closed) return
    this.events.emit('etcd-error', { error: err instanceof EtcdTopologyError ? err : new EtcdTopologyError(what, err) })
  }

  // ---- the watch ----

  private onPut(kv: IKeyValue): void {
    const key = kv.key.toString()
    if (!key.startsWith(this.root)) return
    const rest = key.slice(this.root.length)
    if (rest === 'state') return this.onState(kv)
    if (rest === 'leader') return
    const [kind, node, session] = rest.split('/') as [string, NodeId, string | undefined]
    if (kind === 'members') {
      const record = JSON.parse(kv.value.toString()) as MemberRecord
      this.members.set(node, record)
      const mine = this.attached.get(node)
      // The node connected to another instance (or again here): the old link goes.
      if (mine && mine.session !== record.session) this.detach(mine, 'replaced by a new connection of the same node', true)
      this.leader?.onMember(node, record)
    } else if (kind === 'inbox') {
      this.onMail(key, node, JSON.parse(kv.value.toString()) as MailRecord)
    } else if (kind === 'up' && session !== undefined) {
      this.leader?.onUp(key, node, session, JSON.parse(kv.value.toString()) as ClientMessage)
    }
  }

  private onDelete(kv: IKeyValue): void {
    const key = kv.key.toString()
    const rest = key.slice(this.root.length)
    if (rest === 'leader') return this.scheduleCampaign(0)
    const [kind, node] = rest.split('/') as [string, NodeId]
    if (kind !== 'members') return
    this.members.delete(node)
    // Its lease ran out: it stopped heartbeating (or this instance could not renew it).
    const mine = this.attached.get(node)
    if (mine) this.detach(mine, 'lease expired (missed heartbeats)', false)
    this.leader?.onMemberGone(node)
  }

  private onState(kv: IKeyValue): void {
    const state = parseTopologyState(JSON.parse(kv.value.toString()), 'etcd')
    const view = stateView(state)
    if (this.latest && view.epoch <= this.latest.epoch) return
    this.latest = view
    for (const a of this.attached.values()) this.sendView(a)
    this.clients.broadcast(view)
    this.events.emit('view', { view })
  }

  private sendView(a: Attached): void {
    const view = this.latest
    if (!a.welcomed || !view || view.epoch <= a.epoch) return
    a.epoch = view.epoch
    a.link.send({ type: 'view', view })
  }

  private onMail(key: string, node: NodeId, mail: MailRecord): void {
    const a = this.attached.get(node)
    // The leader can answer a node (it saw the member key in its watch) before this instance
    // has heard that its own put of that key succeeded: kept until the node is attached here.
    const adm = this.admitting.get(node)
    if (adm && (mail.session === adm.session || (!a && mail.session === undefined))) return void adm.early.push([key, mail])
    if (!a && mail.msg.type === 'signal' && this.clients.has(node)) {
      this.del(key)
      return void this.clients.deliver(node, mail.msg as { type: 'signal'; from: NodeId; data: unknown })
    }
    if (!a) return // another instance's node (or nobody's: the mail lease cleans it up)
    this.del(key)
    if (mail.session !== undefined && mail.session !== a.session) return
    const msg = mail.msg
    switch (msg.type) {
      case 'welcome': {
        a.welcomed = true
        if (a.hold) this.clock.clearTimeout(a.hold)
        a.hold = undefined
        a.epoch = Math.max(a.epoch, (msg.view as View).epoch)
        a.link.send(msg)
        // The leader acted on the node's empty storage once, in a view saved before this welcome,
        // and the node heals copies from now on. A leader of a later term replays every member
        // key as a hello: one still marked fresh would strip the node of the copies it holds.
        if (a.record.fresh) {
          const { fresh: _, ...rest } = a.record
          a.record = rest
          const value = JSON.stringify(a.record)
          this.enqueue(a, () => a.lease.put(this.key(`members/${a.nodeId}`)).value(value).exec())
        }
        return this.sendView(a)
      }
      case 'close':
        return this.detach(a, String(msg.reason), true)
      case 'refused':
        a.link.send(msg)
        return this.detach(a, String(msg.reason), true)
      default:
        return a.link.send(msg)
    }
  }

  private del(key: string): void {
    this.client
      .delete()
      .key(key)
      .exec()
      .catch((err: unknown) => this.report(`delete ${key}`, err))
  }

  /** A lease for mail: short, never renewed, so mail nobody took goes by itself; a new one every half TTL. */
  private mailLease(): Lease {
    const now = this.clock.now()
    if (!this.mail || now - this.mail.at > (MAIL_TTL_S * 1000) / 2) this.mail = { lease: this.client.lease(MAIL_TTL_S, { autoKeepAlive: false }), at: now }
    return this.mail.lease
  }

  /** Puts a message in a node's inbox (the instance holding the node delivers it). */
  sendMail(node: NodeId, mail: MailRecord): void {
    const id = `${Date.now().toString(36)}-${randomNonce().slice(0, 8)}`
    const lease = this.mailLease()
    const value = JSON.stringify(mail)
    // One put at a time per node, in the order sent: etcd orders concurrent puts as they commit,
    // and the receiving instance delivers in revision order, so a WebRTC answer sent before its
    // candidates could reach the node after them, and a welcome after a view.
    const tail = (this.outbox.get(node) ?? Promise.resolve())
      .then(() => lease.put(this.key(`inbox/${node}/${id}`)).value(value).exec())
      .then(
        () => undefined,
        (err: unknown) => this.report(`mail to ${node}`, err),
      )
    this.outbox.set(node, tail)
    void tail.then(() => {
      if (this.outbox.get(node) === tail) this.outbox.delete(node)
    })
  }

  // ---- the gateway: nodes connected here ----

  accept(link: TopologyLink): void {
    let me: Attached | undefined
    let client: { id: NodeId; handle: (msg: ClientMessage) => void } | undefined
    this.gate.accept(
      link,
      {
        hello: (msg) => {
          if (msg.type === 'client-hello') return void this.clients.admit(link, msg).then((handle) => (client = handle && { id: msg.nodeId as NodeId, handle }))
          void this.admit(link, msg).then((a) => (me = a))
        },
        message: (msg) => {
          if (client) return client.handle(msg)
          if (me && !me.gone) this.onNodeMessage(me, msg)
        },
        closed: () => {
          if (client) return this.clients.closed(client.id, link)
          if (me && !me.gone) this.detach(me, 'link closed', true)
        },
      },
      this.closed ? 'the topology service is stopping' : undefined,
    )
  }

  private async admit(link: TopologyLink, hello: HelloMessage): Promise<Attached | undefined> {
    const why = await this.hellos.check(hello)
    if (!this.gate.waits(link)) return undefined
    if (why) {
      this.gate.refuse(link, why)
      return undefined
    }
    const nodeId = hello.nodeId as NodeId
    const shown = hello.key !== undefined ? nodeKeyHash(hello.key) : undefined
    const record: MemberRecord = { instance: this.instanceId, session: randomNonce(), engines: hello.engines, durable: hello.durable === true, ...(hello.lastView ? { lastView: hello.lastView } : {}), ...(hello.fresh ? { fresh: true } : {}), ...(shown !== undefined ? { keyHash: shown } : {}) }
    const lease = this.client.lease(this.nodeTtlS, { autoKeepAlive: false })
    const adm = { session: record.session, early: [] as [string, MailRecord][] }
    this.admitting.set(nodeId, adm)
    try {
      const taken = await this.putMember(nodeId, record, lease)
      if (taken) {
        void lease.revoke().catch(() => undefined) // granted for nothing
        if (this.gate.waits(link)) this.gate.refuse(link, taken)
        return undefined
      }
    } catch (err) {
      // etcd is unreachable: not a refusal (that would be final for the node); it tries again.
      this.gate.admitted(link)
      this.report(`admitting ${nodeId}`, err)
      link.close('the topology service cannot reach etcd')
      return undefined
    } finally {
      if (this.admitting.get(nodeId) === adm) this.admitting.delete(nodeId)
    }
    if (!this.gate.waits(link)) {
      void lease.revoke().catch(() => undefined) // the link closed meanwhile; its key goes with the lease
      return undefined
    }
    this.gate.admitted(link)
    const a: Attached = { nodeId, session: record.session, link, lease, lastKeepalive: this.clock.now(), welcomed: false, epoch: 0, upSeq: 0, queue: Promise.resolve(), record, gone: false, hold: undefined, renewing: false }
    const old = this.attached.get(nodeId)
    this.attached.set(nodeId, a)
    this.holdUntilWelcome(a, this.clock.now() + (this.service.helloTimeoutMs ?? 10_000))
    // The new key is in etcd first, so the old link's lease going cannot take it away.
    if (old) this.detach(old, 'replaced by a new connection of the same node', true)
    for (const [key, mail] of adm.early) this.onMail(key, nodeId, mail)
    return a
  }

  /**
   * Puts a node's member key unless the id is live with another key (node-keys.ts): here an id is
   * live while its member key exists, which its gateway keeps while the node heartbeats and
   * deletes when its socket closes. A compare-and-set on the key's revision, so that two
   * instances admitting the same id at once cannot both decide on what they read. Returns the
   * refusal, if any.
   */
  private async putMember(nodeId: NodeId, record: MemberRecord, lease: Lease): Promise<string | undefined> {
    const key = this.key(`members/${nodeId}`)
    const value = JSON.stringify(record)
    const leaseId = await lease.grant()
    for (let tries = 0; ; tries++) {
      const kv = (await this.client.get(key).exec()).kvs[0]
      const holder = kv ? (JSON.parse(kv.value.toString()) as MemberRecord) : undefined
      const taken = takeOverRefusal(nodeId, { live: holder !== undefined, stored: holder?.keyHash }, record.keyHash)
      if (taken) return taken
      const unchanged = kv ? this.client.if(key, 'Mod', '==', String(kv.mod_revision)) : this.client.if(key, 'Create', '==', 0)
      const res = await unchanged.then(this.client.put(key).value(value).lease(leaseId)).commit()
      if (res.succeeded) return undefined
      // Another instance put the key between the read and the write (the node reconnecting there
      // too): decide again on what it holds now.
      if (tries >= 3) throw new EtcdTopologyError(`admitting ${nodeId}`, 'its member key kept changing')
    }
  }

  /**
   * A node admitted here waits for its welcome from the leader, and sends no heartbeat until then;
   * with no leader (the last one was killed and its lease has not expired yet) that wait lasts
   * longer than the node's lease. Its open link is the sign of life meanwhile: the lease is renewed
   * here, so the next leader finds the node's key and admits it without marking it down. A node no
   * leader welcomed for `helloTimeoutMs` is let go (it reconnects, maybe elsewhere).
   */
  private holdUntilWelcome(a: Attached, until: number): void {
    a.hold = this.clock.setTimeout(() => {
      a.hold = undefined
      if (a.gone || a.welcomed) return
      if (this.clock.now() >= until) return this.detach(a, 'no topology instance leads: no welcome came (try again)', false)
      this.keepAlive(a)
      this.holdUntilWelcome(a, until)
    }, (this.nodeTtlS * 1000) / 3)
  }

  private keepAlive(a: Attached): void {
    a.lastKeepalive = this.clock.now()
    a.renewing = true
    a.lease.keepaliveOnce().then(
      () => void (a.renewing = false),
      (err: unknown) => {
        a.renewing = false
        this.report(`keeping ${a.nodeId} alive`, err)
        // Try again on the node's next heartbeat: the etcd member this went to may have died,
        // and the client moves to another one only after failures.
        a.lastKeepalive = 0
        // Gone for good: the node must reconnect to get a new one. Otherwise (etcd busy electing
        // a leader) the next heartbeat tries again; if the lease expires meanwhile, its key's
        // deletion in the watch detaches the node.
        if (err instanceof EtcdLeaseInvalidError) this.detach(a, 'its lease in etcd expired', false)
      },
    )
  }


  /**
   * Drops a node's link here. `revoke`: the node went away (its socket closed, or the leader closed
   * its link), so its lease goes at once and with it its key, if that is still this link's: the
   * leader marks it down now, as the embedded service does on a closed link. Otherwise (etcd could
   * not be reached, no leader welcomed it) the lease is left to run out: the node reconnects, here
   * or elsewhere, and its new key replaces the old one before that, so it is not marked down.
   */
  private detach(a: Attached, reason: string, revoke: boolean): void {
    if (a.gone) return
    a.gone = true
    if (a.hold) this.clock.clearTimeout(a.hold)
    if (this.attached.get(a.nodeId) === a) this.attached.delete(a.nodeId)
    a.link.close(reason)
    if (revoke) void a.queue.then(() => a.lease.revoke()).catch(() => undefined) // an expired lease needs no revoking
    else a.lease.release()
  }

  private onNodeMessage(a: Attached, msg: ClientMessage): void {
    switch (msg.type) {
      case 'heartbeat': {
        // This instance answers for itself: a node on an instance that hangs moves to the next.
        a.link.send({ type: 'beat' })
        const now = this.clock.now()
        // Renewed on each heartbeat (a burst of them counts once): a third of the lease, as
        // etcd's own clients do, left a node renewed only every other heartbeat, and a pause of
        // about one heartbeat then let the lease of a live node run out under load.
        const hb = this.service.heartbeatMs ?? 1000
        if (now - a.lastKeepalive < hb / 2 || (a.renewing && now - a.lastKeepalive < 2 * hb)) return
        return this.keepAlive(a)
      }
      case 'signal': {
        const to = msg.to as NodeId
        const local = this.attached.get(to)
        if (local?.welcomed) {
          this.stats.signalsRelayed++
          return local.link.send({ type: 'signal', from: a.nodeId, data: msg.data })
        }
        if (this.clients.deliver(to, { type: 'signal', from: a.nodeId, data: msg.data })) return void this.stats.signalsRelayed++
        // A client on another instance: its inbox (ids of clients are random; mail nobody takes expires).
        if (!this.members.has(to) && !isValidId(to)) return a.link.send({ type: 'error', reason: `cannot signal ${msg.to}: not an admitted member` })
        this.stats.signalsRelayed++
        this.stats.signalsViaEtcd++
        return this.sendMail(to, { msg: { type: 'signal', from: a.nodeId, data: msg.data } })
      }
      case 'engines': {
        // Each list as it was sent: the leader publishes a view per change, as the embedded service does.
        a.record = { ...a.record, engines: msg.engines }
        const value = JSON.stringify(a.record)
        return this.enqueue(a, () => a.lease.put(this.key(`members/${a.nodeId}`)).value(value).exec())
      }
      case 'hello':
        return a.link.send({ type: 'error', reason: 'already admitted' })
      default: {
        const n = String(++a.upSeq).padStart(10, '0')
        return this.enqueue(a, () => a.lease.put(this.key(`up/${a.nodeId}/${a.session}/${n}`)).value(JSON.stringify(msg)).exec())
      }
    }
  }

  private enqueue(a: Attached, put: () => Promise<unknown>): void {
    a.queue = a.queue.then(put).then(
      () => undefined,
      (err: unknown) => {
        this.report(`message from ${a.nodeId}`, err)
        this.detach(a, 'the topology service cannot reach etcd', false)
      },
    )
  }

  // ---- leadership ----

  /** A retry already waiting is replaced if this one is sooner (the leader key went: campaign now). */
  private scheduleCampaign(ms = 200): void {
    if (this.closed || this.leader) return
    if (this.campaignTimer) {
      if (ms > 0) return
      this.clock.clearTimeout(this.campaignTimer)
    }
    this.campaignTimer = this.clock.setTimeout(() => {
      this.campaignTimer = undefined
      void this.campaign()
    }, ms)
  }

  private async campaign(): Promise<void> {
    if (this.closed || this.leader) return
    const leaderKey = this.key('leader')
    let won: boolean
    try {
      const res = await this.client.if(leaderKey, 'Create', '==', 0).then(this.client.put(leaderKey).value(this.instanceId).lease(this.leaseId)).commit()
      won = res.succeeded
      // Our own key from before a restart of this object cannot exist (ids are random): someone else leads.
    } catch (err) {
      this.report('campaign', err)
      return this.scheduleCampaign(500)
    }
    // Not won: the watch tells us when the leader key goes (its holder resigned or its lease ran
    // out); a slow retry as well, in case a watch was cut just then.
    if (!won) return this.scheduleCampaign(2000)
    if (this.closed) return
    this.stats.leaderTerms++
    const term = new LeaderTerm(this, this.client, this.service, this.key.bind(this), this.instanceId)
    this.leader = term
    this.events.emit('leader', { leading: true, reason: 'won the election' })
    try {
      await term.start(this.members)
    } catch (err) {
      this.report('starting the service', err)
      this.stepDown(`could not load the state: ${(err as Error).message}`)
    }
  }

  /** Called by the term when its service stops publishing (fenced, or etcd failed). */
  stepDown(reason: string): void {
    const term = this.leader
    if (!term) return
    this.leader = undefined
    term.stop()
    this.events.emit('leader', { leading: false, reason })
    const leaderKey = this.key('leader')
    this.client
      .if(leaderKey, 'Value', '==', this.instanceId)
      .then(this.client.delete().key(leaderKey))
      .commit()
      .catch((err: unknown) => this.report('resign', err))
      .finally(() => this.scheduleCampaign(500))
  }

  forwardServiceEvent<K extends 'refused' | 'recovering'>(name: K, e: EtcdInstanceEvents[K]): void {
    this.events.emit(name, e)
  }

  get leading(): boolean {
    return this.leader !== undefined
  }

  /** The leader's service, while this instance leads (tests, metrics). */
  get leaderService(): TopologyService | undefined {
    return this.leader?.service
  }

  /** The last view this instance saw in etcd. */
  view(): View | undefined {
    return this.latest
  }

  /** Nodes connected to this instance. */
  nodes(): NodeId[] {
    return [...this.attached.keys()]
  }

  async close(): Promise<void> {
    if (this.closed) return
    const term = this.leader
    this.leader = undefined
    term?.stop()
    this.closed = true
    if (this.campaignTimer) this.clock.clearTimeout(this.campaignTimer)
    if (this.leaseRetry) this.clock.clearTimeout(this.leaseRetry)
    if (this.recordRetry) this.clock.clearTimeout(this.recordRetry)
    this.gate.closeWaiting('topology service stopping')
    this.clients.close('topology service stopping')
    // The nodes' leases are left to run out: a node that reconnects to another instance within
    // their TTL is not marked down (revoking them would mark every node here down at once).
    for (const a of [...this.attached.values()]) {
      a.gone = true
      if (a.hold) this.clock.clearTimeout(a.hold)
      a.link.close('topology service stopping')
    }
    this.attached.clear()
    await this.watcher?.cancel().catch(() => undefined)
    // The leader key goes with the instance lease: another instance takes over at once.
    await this.lease.revoke().catch(() => undefined)
    this.client.close()
  }
}

/** A view as the embedded service builds it from its state (TopologyService.view()). */
function stateView(state: TopologyState): View {
  return {
    epoch: state.epoch,
    members: state.members.map((m) => ({ nodeId: m.nodeId, status: m.status, engines: [...m.engines], ...(m.durable ? { durable: true } : {}) })),
    owners: state.owners as Record<number, NodeId[]>,
    ...(state.waiting && state.waiting.length > 0 ? { waiting: [...state.waiting].sort((a, b) => a - b) } : {}),
  }
}

/**
 * The state in etcd, saved with a compare-and-set: only if the state key is still at the
 * revision this leader loaded or last wrote, and the leader key still names this instance.
 */
class EtcdStateStore implements TopologyStateStore {
  private revision = '0'

  constructor(
    private readonly client: Etcd3,
    private readonly stateKey: string,
    private readonly leaderKey: string,
    private readonly instanceId: string,
  ) {}

  async load(): Promise<TopologyState | undefined> {
    const res = await this.client.get(this.stateKey).exec()
    const kv = res.kvs[0]
    if (!kv) {
      this.revision = '0'
      return undefined
    }
    this.revision = String(kv.mod_revision)
    let raw: unknown
    try {
      raw = JSON.parse(kv.value.toString())
    } catch (err) {
      throw new TopologyStateError(`etcd ${this.stateKey}`, `damaged (${(err as Error).message})`)
    }
    return parseTopologyState(raw, `etcd ${this.stateKey}`)
  }

  async save(state: TopologyState): Promise<void> {
    const res = await this.client
      .if(this.stateKey, 'Mod', '==', this.revision)
      .and(this.leaderKey, 'Value', '==', this.instanceId)
      .then(this.client.put(this.stateKey).value(JSON.stringify(state)))
      .commit()
    if (!res.succeeded) throw new TopologyStateError('save', 'fenced: another instance leads now, or published a view since this one loaded the state')
    this.revision = String(res.header.revision)
  }
}

/** One term as leader: the TopologyService and a ProxyLink per member key. */
class LeaderTerm {
  service!: TopologyService
  private readonly proxies = new Map<NodeId, ProxyLink[]>()
  /** Each node's key hash, from its latest member record: the gateway checked the key, the state keeps its hash. */
  private readonly keyHashes = new Map<NodeId, string | undefined>()
  stopping = false

  constructor(
    private readonly inst: EtcdTopologyInstance,
    private readonly client: Etcd3,
    private readonly opts: Omit<TopologyServiceOptions, 'store'>,
    key: (rest: string) => string,
    instanceId: string,
  ) {
    this.store = new EtcdStateStore(client, key('state'), key('leader'), instanceId)
  }

  private readonly store: EtcdStateStore

  async start(members: ReadonlyMap<NodeId, MemberRecord>): Promise<void> {
    const service = new TopologyService({ ...this.opts, store: this.store }, { keyHashOf: (hello) => this.keyHashes.get(hello.nodeId as NodeId) })
    this.service = service
    service.events.on('state-error', ({ error }) => this.inst.stepDown(error.message))
    service.events.on('refused', (e) => this.inst.forwardServiceEvent('refused', e))
    service.events.on('recovering', (e) => this.inst.forwardServiceEvent('recovering', e))
    await service.loaded
    if (this.stopping) return
    // Every node that has a key is admitted again: the service gave them a heartbeat allowance.
    for (const [node, record] of members) this.onMember(node, record)
  }

  stop(): void {
    this.stopping = true
    this.service?.close()
    for (const list of this.proxies.values()) for (const p of list) p.drop()
    this.proxies.clear()
  }

  onMember(node: NodeId, record: MemberRecord): void {
    if (this.stopping || !this.service) return
    const list = this.proxies.get(node) ?? []
    const same = list.find((p) => p.session === record.session)
    if (same) {
      if (JSON.stringify(same.engines) !== JSON.stringify(record.engines)) {
        same.engines = record.engines
        same.deliver({ type: 'engines', engines: record.engines })
      }
      return
    }
    this.keyHashes.set(node, record.keyHash)
    const proxy = new ProxyLink(node, record.session, record.engines, this, this.opts.clock, this.opts.heartbeatMs ?? 1000)
    this.proxies.set(node, [...list.filter((p) => !p.closed), proxy])
    this.service.accept(proxy)
    void this.hello(node, record).then((h) => proxy.open(h))
  }

  /** A hello for a node its gateway admitted: the leader knows the secret, so it signs a fresh one. */
  private async hello(node: NodeId, r: MemberRecord): Promise<HelloMessage> {
    const ts = this.opts.clock.now()
    const nonce = randomNonce()
    const proof = await helloProof(this.opts.secret, this.opts.clusterId, node, ts, nonce)
    return { type: 'hello', clusterId: this.opts.clusterId, nodeId: node, engines: r.engines, durable: r.durable, ...(r.lastView ? { lastView: r.lastView } : {}), ...(r.fresh ? { fresh: true } : {}), ts, nonce, proof }
  }

  onMemberGone(node: NodeId): void {
    const list = this.proxies.get(node) ?? []
    this.proxies.delete(node)
    this.keyHashes.delete(node)
    for (const p of list) p.closeFromEtcd('link closed')
  }

  onUp(key: string, node: NodeId, session: string, msg: ClientMessage): void {
    if (this.stopping) return
    const p = this.proxies.get(node)?.find((x) => x.session === session && !x.closed)
    p?.deliver(msg)
    this.client
      .delete()
      .key(key)
      .exec()
      .catch(() => undefined) // gone with the node's lease, or deleted by an earlier leader
  }

  mail(node: NodeId, mail: MailRecord): void {
    if (!this.stopping) this.inst.sendMail(node, mail)
  }
}

/** The leader's end of a node's link: its messages come from etcd, what it is sent goes to the node's inbox. */
class ProxyLink implements TopologyLink {
  closed = false
  private fromEtcd = false
  private readonly handlers: ((msg: unknown) => void)[] = []
  private readonly closeHandlers: ((reason: string) => void)[] = []
  private beat: TimerHandle | undefined
  /** Messages that came before the hello was signed: the service must hear the hello first. */
  private early: unknown[] | undefined = []

  constructor(
    readonly nodeId: NodeId,
    readonly session: string,
    public engines: MemberRecord['engines'],
    private readonly term: LeaderTerm,
    private readonly clock: Clock,
    private readonly heartbeatMs: number,
  ) {}

  open(hello: HelloMessage): void {
    const early = this.early ?? []
    this.early = undefined
    this.deliver(hello)
    for (const m of early) this.deliver(m)
    if (!this.closed) this.armBeat()
  }

  /** While the node's key exists its gateway sees its heartbeats (and renews its lease): the service hears one per interval. */
  private armBeat(): void {
    this.beat = this.clock.setTimeout(() => {
      if (this.closed) return
      this.deliver({ type: 'heartbeat' })
      this.armBeat()
    }, this.heartbeatMs)
  }

  deliver(msg: unknown): void {
    if (this.closed) return
    if (this.early) return void this.early.push(msg)
    for (const h of this.handlers) h(msg)
  }

  send(msg: object): void {
    if (this.closed) return
    // The node's own instance answers its heartbeats; the leader's answers would only be mail.
    if ((msg as { type?: unknown }).type === 'beat') return
    const m = msg as MailRecord['msg']
    // Views reach every node from the state key, through its gateway's watch.
    if (m.type === 'view') return
    this.term.mail(this.nodeId, { session: this.session, msg: m })
  }

  close(reason = 'closed'): void {
    if (this.closed) return
    this.closed = true
    if (this.beat) this.clock.clearTimeout(this.beat)
    if (!this.fromEtcd) this.term.mail(this.nodeId, { session: this.session, msg: { type: 'close', reason } })
    // As a socket's: after the call returns (the service replaces a link before its close is heard).
    queueMicrotask(() => {
      for (const h of this.closeHandlers) h(reason)
    })
  }

  closeFromEtcd(reason: string): void {
    this.fromEtcd = true
    this.close(reason)
  }

  /** The term ends: nothing more is heard or sent (the next leader admits the node again). */
  drop(): void {
    this.fromEtcd = true
    this.closed = true
    if (this.beat) this.clock.clearTimeout(this.beat)
  }

  onMessage(handler: (msg: unknown) => void): void {
    this.handlers.push(handler)
  }

  onClose(handler: (reason: string) => void): void {
    this.closeHandlers.push(handler)
  }
}
