/**
 * A node's connection to the topology service: says hello with an HMAC proof, sends heartbeats on
 * the injected clock, hands views and signals to the node, and carries the node's reports (a peer
 * whose data channel dropped, a domain copy that finished). If the link drops, it reconnects with
 * jittered backoff (to the next instance, with a failover connector); the service keeps the node
 * `down` but in the view for `healDelayMs`.
 */
import * as v from '../util/schema.js'
import { DomainMeshError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { EngineInfo } from '../routing/engine.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { hash32 } from '../util/hash.js'
import { seededRandom, type Random } from '../util/random.js'
import { helloProof, randomNonce } from './auth.js'
import { asSettings, asView, RECONNECT_MAX_MS, ServerMessageSchema, type TopologyLink } from './protocol.js'
import type { ClusterSettings, View } from './view.js'

export class TopologyRefusedError extends DomainMeshError {
  constructor(reason: string) {
    super('TOPOLOGY_REFUSED', `the topology service refused this node: ${reason}`, { reason })
  }
}

export type TopologyConnector = () => Promise<TopologyLink>

/** Heartbeats without an answer after which the service counts as hung (its own limit for nodes is 3). */
const SILENT_BEATS = 3

export interface TopologyClientOptions {
  clusterId: string
  nodeId: NodeId
  /** A member proves the cluster secret; a client (`token`) shows a token from the app's auth endpoint instead. */
  secret?: string
  /** A client's token, asked for on every hello (a reconnect may need a fresh one). */
  token?: () => Promise<string>
  /** A member's token (role 'member') in place of the secret, asked for on every hello. */
  memberToken?: () => Promise<string>
  /**
   * After the first welcome, a refusal is not final: the next attempt comes as after a lost link
   * (a client whose token lapsed while its auth endpoint was away shows a fresh one then).
   */
  retryRefusals?: boolean
  /** The node key kept with this node's data (src/node/identity.ts), shown in each hello; without one, any hello for this id takes its place. */
  key?: string
  connect: TopologyConnector
  clock: Clock
  engines: () => EngineInfo[]
  /** This node keeps its copies across restarts (files): placement then prefers it (see placement.ts). */
  durable?: boolean
  /** The last view this node saw, if it kept one (sent in the hello). */
  lastView?: () => View | undefined
  /** Where each copy this node holds ends: [domain, last entry's epoch, last seq]; sent after every welcome. */
  copies?: () => [number, number, number][] | undefined
  /** This node's storage held nothing when it started (sent in hellos until a welcome arrives). */
  fresh?: boolean
  /** First reconnect delay; doubles up to 5 s. Each wait is jittered (0.5-1x), so the nodes of a dead instance do not all reconnect at once. */
  reconnectMs?: number
  /** Uniform in [0, 1): the jitter (default: seeded by the node id, so simulations replay the same). */
  random?: Random
}

export interface TopologyClientEvents {
  view: { view: View }
  /** `client`: the service marks a client's signal so (see Signaling). */
  signal: { from: NodeId; data: unknown; client?: boolean }
  connected: { settings: ClusterSettings }
  disconnected: { reason: string }
  error: { error: Error }
}

export interface Welcome {
  settings: ClusterSettings
  view: View
  heartbeatMs: number
  healDelayMs: number
  /** Domains whose only copy the service listed on this node, which came back with empty storage. */
  lost: number[]
}

export class TopologyClient {
  readonly events = new Emitter<TopologyClientEvents>()
  private link: TopologyLink | undefined
  /** A link said hello on and not yet welcomed: `close` ends it too (a caller that gave up waiting). */
  private opening: TopologyLink | undefined
  private heartbeat: TimerHandle | undefined
  private retry: TimerHandle | undefined
  private backoff: number
  private closed = false
  private welcome: Welcome | undefined
  /**
   * Owner changes reported and not yet seen in a view: a report sent while the link was down, or
   * lost with a link that closed, is sent again on the next welcome. A lost `owned` left a healed
   * domain short of a copy for good; a lost `lagging` left a stale copy listed as owner.
   */
  private readonly pending = new Map<string, { type: 'owned' | 'lagging'; domain: number; node: NodeId }>()

  /** Until the first welcome: the service has not yet heard that this node's storage came back empty. */
  private fresh: boolean
  private readonly random: Random
  /** When the service last said anything on the current link, and whether it answers heartbeats. */
  private lastHeard = 0
  private beats = false

  constructor(private readonly opts: TopologyClientOptions) {
    this.backoff = opts.reconnectMs ?? 250
    this.fresh = opts.fresh === true
    this.random = opts.random ?? seededRandom(hash32(opts.nodeId))
  }

  /** How long the service keeps a down member before healing replaces it (from its welcome). */
  get healDelayMs(): number | undefined {
    return this.welcome?.healDelayMs
  }

  get connected(): boolean {
    return this.link !== undefined
  }

  /** Connects and resolves with the service's welcome; rejects with TopologyRefusedError if refused. */
  async connect(): Promise<Welcome> {
    const o = this.opts
    const hello = o.token ? { type: 'client-hello', clusterId: o.clusterId, nodeId: o.nodeId, token: await o.token() } : await this.memberHello()
    const link = await this.opts.connect()
    this.opening = link
    return new Promise<Welcome>((resolve, reject) => {
      let welcomed = false
      link.onMessage((raw) => {
        const parsed = v.safeParse(ServerMessageSchema, raw)
        if (!parsed.success) return this.events.emit('error', { error: new DomainMeshError('BAD_TOPOLOGY_MESSAGE', `bad message from the topology service: ${parsed.issues[0]?.message}`) })
        const msg = parsed.output
        if (this.link === link || !welcomed) this.lastHeard = o.clock.now()
        switch (msg.type) {
          case 'beat':
            return
          case 'welcome': {
            welcomed = true
            if (this.opening === link) this.opening = undefined
            this.link = link
            this.beats = msg.beats === true
            this.backoff = o.reconnectMs ?? 250
            this.startHeartbeat(msg.heartbeatMs)
            this.fresh = false
            const w: Welcome = { settings: asSettings(msg.settings), view: asView(msg.view), heartbeatMs: msg.heartbeatMs, healDelayMs: msg.healDelayMs, lost: msg.lost ?? [] }
            this.welcome = w
            this.settle(w.view)
            for (const r of this.pending.values()) link.send(r)
            this.sendCopies()
            resolve(w)
            this.events.emit('connected', { settings: w.settings })
            return this.events.emit('view', { view: w.view })
          }
          case 'view': {
            const view = asView(msg.view)
            this.settle(view)
            return this.events.emit('view', { view })
          }
          case 'signal':
            return this.events.emit('signal', { from: msg.from as NodeId, data: msg.data, ...(msg.client ? { client: true } : {}) })
          case 'refused':
            // A refusal is final (retrying with the same secret cannot help), unless the node may
            // show another credential next time and has been welcomed before.
            if (!o.retryRefusals || !this.welcome) this.closed = true
            return reject(new TopologyRefusedError(msg.reason))
          case 'error':
            return this.events.emit('error', { error: new DomainMeshError('TOPOLOGY_ERROR', msg.reason) })
        }
      })
      link.onClose((reason) => {
        if (!welcomed) return reject(new TopologyRefusedError(reason))
        if (this.link === link) this.lost(reason)
      })
      link.send(hello)
    })
  }

  private async memberHello(): Promise<object> {
    const o = this.opts
    const ts = o.clock.now()
    const nonce = randomNonce()
    const credential = o.memberToken ? { token: await o.memberToken() } : { proof: await helloProof(o.secret ?? '', o.clusterId, o.nodeId, ts, nonce) }
    const lastView = o.lastView?.()
    return { type: 'hello', clusterId: o.clusterId, nodeId: o.nodeId, engines: o.engines(), durable: o.durable === true, ...(lastView ? { lastView } : {}), ...(this.fresh ? { fresh: true } : {}), ...(o.key ? { key: o.key } : {}), ts, nonce, ...credential }
  }

  /** A client's fresh token, before the one it said hello with expires (the service closes the link then). */
  sendToken(token: string): void {
    this.link?.send({ type: 'token', token })
  }

  signal(to: NodeId, data: unknown): void {
    this.link?.send({ type: 'signal', to, data })
  }

  /** This link as a WebRTC signaling channel: signals go through the service to admitted members. */
  signaling(): { signal(to: NodeId, data: unknown): void; onSignal(handler: (from: NodeId, data: unknown, meta?: { client?: boolean }) => void): () => void } {
    return {
      signal: (to, data) => this.signal(to, data),
      onSignal: (handler) => this.events.on('signal', ({ from, data, client }) => handler(from, data, { client: client === true })),
    }
  }

  /** Tells the service that our data channel to `peer` dropped. */
  report(peer: NodeId): void {
    this.link?.send({ type: 'report', peer })
  }

  /** Tells the service that `node` now holds a complete copy of `domain` (again after a reconnect, until a view lists it). */
  owned(domain: number, node: NodeId): void {
    this.reportOwnership({ type: 'owned', domain, node })
  }

  /** Tells the service that `node` missed writes to `domain` while it was down (again after a reconnect, until a view drops it). */
  lagging(domain: number, node: NodeId): void {
    this.reportOwnership({ type: 'lagging', domain, node })
  }

  private reportOwnership(r: { type: 'owned' | 'lagging'; domain: number; node: NodeId }): void {
    const key = `${r.type}:${r.domain}:${r.node}`
    this.pending.delete(`${r.type === 'owned' ? 'lagging' : 'owned'}:${r.domain}:${r.node}`)
    this.pending.set(key, r)
    this.link?.send(r)
  }

  /** Forgets reports a view shows were taken (or overtaken: the node left, or the domain moved on). */
  private settle(view: View): void {
    for (const [key, r] of this.pending) {
      const owners = view.owners?.[r.domain] ?? []
      const listed = owners.includes(r.node)
      const member = view.members.some((m) => m.nodeId === r.node)
      if (!member || (r.type === 'owned' ? listed : !listed)) this.pending.delete(key)
    }
  }

  /** Tells the service where this node's copies end (it needs them only while it rebuilds lost state). */
  sendCopies(): void {
    const copies = this.opts.copies?.()
    if (copies) this.link?.send({ type: 'copies', copies })
  }

  /** Advertises the engines this node hosts now (after one was registered). */
  updateEngines(engines: EngineInfo[]): void {
    this.link?.send({ type: 'engines', engines })
  }

  /** Leaves the cluster for good (its domains move at once); `close` alone looks like a crash. */
  leave(): void {
    this.link?.send({ type: 'leave' })
  }

  close(): void {
    this.closed = true
    for (const t of [this.heartbeat, this.retry]) if (t) this.opts.clock.clearTimeout(t)
    this.heartbeat = this.retry = undefined
    const link = this.link
    this.link = undefined
    link?.close('node closing')
    this.opening?.close('node closing')
    this.opening = undefined
  }

  /**
   * Sends a heartbeat every `ms`, and gives up on a service that has not answered one for
   * SILENT_BEATS of them: it hangs (a stopped process, a machine cut off) and closes no socket,
   * so this node reconnects, to the next instance if it has a list. A tick that itself came late
   * (this process was stopped or starved) judges nothing: the answers may be waiting unread.
   * A service that does not say in its welcome that it answers heartbeats (before 0.2.0) is
   * never judged.
   */
  private startHeartbeat(ms: number): void {
    if (this.heartbeat) this.opts.clock.clearTimeout(this.heartbeat)
    const due = this.opts.clock.now() + ms
    this.heartbeat = this.opts.clock.setTimeout(() => {
      this.heartbeat = undefined
      const link = this.link
      if (!link || this.closed) return
      const now = this.opts.clock.now()
      if (this.beats && now - due < ms && now - this.lastHeard > SILENT_BEATS * ms) {
        const reason = `the topology service did not answer for ${now - this.lastHeard} ms`
        this.link = undefined
        link.close(reason)
        return this.lost(reason)
      }
      link.send({ type: 'heartbeat' })
      this.startHeartbeat(ms)
    }, ms)
  }

  private lost(reason: string): void {
    this.link = undefined
    if (this.heartbeat) this.opts.clock.clearTimeout(this.heartbeat)
    this.heartbeat = undefined
    this.events.emit('disconnected', { reason })
    if (this.closed) return
    this.retry = this.opts.clock.setTimeout(() => {
      this.retry = undefined
      this.connect().catch((error: Error) => {
        this.events.emit('error', { error })
        if (!this.closed) this.lost(error.message)
      })
    }, Math.round(this.backoff * (0.5 + 0.5 * this.random())))
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS)
  }
}
