/**
 * A client of a domainmesh cluster (issue 34): the browser tab of an app's user. It holds no
 * replica, is never placed and never acknowledges; it does not know the cluster secret, only a
 * short-lived token from the app's own auth endpoint, which the topology service and every member
 * it talks to check. It links only to the members it needs (the primaries of the keys it touches,
 * dialled lazily, at most `maxLinks`, closed when idle), so a cluster can serve thousands of tabs;
 * where it cannot reach a primary, a member it is linked to relays. Store, subscribe and sessions
 * have the same API as on a member.
 *
 *   const client = await new MeshClient({ clusterId: 'shop', topology: { urls: ['wss://…'] }, token: () => fetchToken() }).start()
 *   await client.store('app').put('cart:1', { items: [] })
 */
import { ClosedError, DomainMeshError, TimeoutError } from '../errors.js'
import { clusterId as toClusterId, virtualServerId as toVs, type ClusterId, type NodeId, type VirtualServerId } from '../ids.js'
import { Messenger } from '../routing/messenger.js'
import { Router } from '../routing/router.js'
import { method, methodTable } from '../routing/methods.js'
import * as v from '../util/schema.js'
import { Store } from '../store/store.js'
import { STORE_ENGINE_ID, STORE_ENGINE_TYPE } from '../store/store-engine.js'
import { WireEntrySchema, type LogEntry } from '../replication/log.js'
import { TUNING_DEFAULTS } from '../replication/tuning.js'
import { SessionClient, type SessionClientOptions } from '../session/client.js'
import { SESSION_ENGINE_ID, SESSION_ENGINE_TYPE } from '../session/engine.js'
import { TopologyClient, TopologyRefusedError, type TopologyConnector } from '../topology/client.js'
import { UnauthorizedError } from '../auth/credentials.js'
import { websocketFailoverConnector } from '../topology/failover.js'
import { TopologyManager } from '../topology/manager.js'
import { DEFAULT_SETTINGS, type ClusterSettings, type View } from '../topology/view.js'
import type { WebSocketConstructor } from '../topology/ws-link.js'
import { WebRtcTransport } from '../transport/webrtc.js'
import { RealClock, type Clock, type TimerHandle } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import type { Random } from '../util/random.js'
import { ClientBackend } from './client-backend.js'
import type { Storage } from '../storage/storage.js'
import { ClientLinks } from './links.js'

/** The token could not be read (not a JWT with a subject): the app's auth endpoint gave something else. */
export class InvalidClientTokenError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_CLIENT_TOKEN', `the client token cannot be used: ${why}`)
  }
}

export interface MeshClientOptions {
  clusterId: string
  /** The topology service (any instance of it): URLs, or a connector (tests). */
  topology: { urls: readonly string[]; WebSocket?: WebSocketConstructor } | { connect: TopologyConnector }
  /**
   * The token from the app's auth endpoint (a JWT its server signed). A function is asked again
   * before each token expires (at 80 % of its life) and on every reconnect.
   */
  token: string | (() => string | Promise<string>)
  /** A WebRTC transport in the client role (default: one with the browser's RTCPeerConnection). */
  transport?: WebRtcTransport
  clock?: Clock
  random?: Random
  /** Links to members at most (default 3). */
  maxLinks?: number
  /** A link unused this long is closed (default 30 s); the most recent one stays. */
  idleMs?: number
  /** How long a call may keep trying through failovers (default: the members' write timeout, 10 s). */
  writeTimeoutMs?: number
  /** How long a dial to a member may take before a call goes through another member (default 5 s). */
  dialTimeoutMs?: number
  /**
   * How long `start()` waits for the topology service's welcome (default 30 s): a service that
   * has no member yet welcomes a client only with the cluster's first view.
   */
  startTimeoutMs?: number
  /**
   * Keep the client's cache (what `get(…, { from: 'local' })` reads) in this storage across page
   * loads, e.g. `new IndexedDbStorage({ dbName: 'shop-cache' })`; by default it lives in memory.
   */
  cache?: Storage
}

export interface MeshClientEvents {
  view: { view: View }
  /** The link to the topology service came up (again): views and new links flow. */
  connected: Record<string, never>
  /** The link to the topology service dropped; the client reconnects by itself, and its links to members stay. */
  disconnected: { reason: string }
  /**
   * Something went wrong outside any call: a token could not be fetched or was not taken (the old
   * one stays until it expires), a subscription was refused (ForbiddenError), no member could hold
   * the subscriptions for now, the cache could not be written.
   */
  error: { error: unknown }
}

/** The claims a client reads from its own token (unverified: only the members' check counts). */
export function readToken(token: string): { subject: string; expiresAt: number | undefined } {
  const parts = token.split('.')
  if (parts.length !== 3) throw new InvalidClientTokenError('not a JWT (three dot-separated parts)')
  let payload: { sub?: unknown; exp?: unknown }
  try {
    const b64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/')
    payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0))))
  } catch (err) {
    throw new InvalidClientTokenError(`its payload is not JSON (${(err as Error).message})`)
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new InvalidClientTokenError('it has no subject (sub)')
  return { subject: payload.sub, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined }
}

export class MeshClient {
  readonly clusterId: ClusterId
  readonly clock: Clock
  readonly events = new Emitter<MeshClientEvents>()
  /** The views this client follows (its directory of members). */
  readonly topology = new TopologyManager(() => {})
  private readonly transport: WebRtcTransport
  private id: NodeId | undefined
  private subjectRef: string | undefined
  private settingsRef: ClusterSettings = DEFAULT_SETTINGS
  private topologyClient: TopologyClient | undefined
  private messengerRef: Messenger | undefined
  private links: ClientLinks | undefined
  private backend: ClientBackend | undefined
  private refreshTimer: TimerHandle | undefined
  private current: string | undefined
  private phase: 'new' | 'starting' | 'running' | 'closed' = 'new'

  constructor(private readonly opts: MeshClientOptions) {
    this.clusterId = toClusterId(opts.clusterId)
    this.clock = opts.clock ?? new RealClock()
    this.transport = opts.transport ?? new WebRtcTransport({ role: 'client', clock: this.clock })
    if (this.transport.role !== 'client') throw new DomainMeshError('INVALID_OPTION', 'a MeshClient needs a WebRtcTransport with role: \'client\'')
  }

  get nodeId(): NodeId {
    if (!this.id) throw new ClosedError('client (not started)')
    return this.id
  }

  /** Who the token says this client is. */
  get subject(): string {
    if (!this.subjectRef) throw new ClosedError('client (not started)')
    return this.subjectRef
  }

  get settings(): ClusterSettings {
    return this.settingsRef
  }

  /** Members this client has a link to now (never more than `maxLinks`). */
  get linkedMembers(): NodeId[] {
    return this.transport.peers()
  }

  async start(): Promise<this> {
    if (this.phase !== 'new') throw new ClosedError('client (already started)')
    this.phase = 'starting'
    const first = await this.fetchToken()
    this.subjectRef = readToken(first).subject
    const id = randomClientId()
    this.id = id
    const router = new Router(this.clusterId, id, this.topology, (n) => this.transport.linked(n))
    const messenger = new Messenger({ clusterId: this.clusterId, nodeId: id, transport: this.transport, router, clock: this.clock })
    this.messengerRef = messenger
    const links = new ClientLinks({
      clusterId: this.clusterId,
      self: id,
      clock: this.clock,
      transport: this.transport,
      messenger: () => messenger,
      token: () => this.token(),
      members: () => this.upMembers(),
      maxLinks: this.opts.maxLinks ?? 3,
      idleMs: this.opts.idleMs ?? 30_000,
      dialTimeoutMs: this.opts.dialTimeoutMs ?? 5000,
      random: this.opts.random ?? Math.random,
    })
    this.links = links
    const backend = new ClientBackend(this.clusterId, id, links, () => messenger, () => this.topology.view(), () => this.settingsRef, this.opts.writeTimeoutMs ?? TUNING_DEFAULTS.writeTimeoutMs, this.clock, this.opts.cache ? { storage: this.opts.cache, onError: (error) => this.events.emit('error', { error }) } : undefined, (error) => this.events.emit('error', { error }))
    this.backend = backend
    await backend.load()
    links.onReady = (m) => backend.linkReady(m)
    this.transport.on('peer-down', ({ peer }) => backend.linkDown(peer))
    // What members send a client: change notices for its subscriptions, and pings.
    const ChangedSchema = v.object({ domain: v.number(), entries: v.array(WireEntrySchema) })
    router.register({
      engineId: STORE_ENGINE_ID,
      engineType: STORE_ENGINE_TYPE,
      virtualServers: '*',
      handle: methodTable({
        changed: method(ChangedSchema, (b) => backend.changed(b.domain, b.entries as LogEntry[])),
        ping: method(v.object({}), () => ({})),
        // A member's own subscriptions, announced to every link it has: a client serves none.
        watch: method(v.object({ patterns: v.array(v.unknown()) }), () => undefined),
      }),
    })
    const connect = 'urls' in this.opts.topology ? websocketFailoverConnector(this.opts.topology.urls, this.opts.topology.WebSocket) : this.opts.topology.connect
    // A refusal is not final for a client: its next hello shows a fresh token.
    const tc = new TopologyClient({ clusterId: this.clusterId, nodeId: id, token: () => this.token(), connect, clock: this.clock, engines: () => [], retryRefusals: true })
    this.topologyClient = tc
    this.transport.attachSignaling(tc.signaling())
    tc.events.on('view', ({ view }) => {
      if (!this.topology.applyView(view)) return
      this.transport.setMembers(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
      this.events.emit('view', { view })
    })
    tc.events.on('connected', ({ settings }) => {
      this.settingsRef = settings
      this.events.emit('connected', {})
    })
    tc.events.on('disconnected', ({ reason }) => this.events.emit('disconnected', { reason }))
    await this.transport.connect(id)
    const startTimeoutMs = this.opts.startTimeoutMs ?? 30_000
    let timer: TimerHandle | undefined
    const welcome = await Promise.race([
      tc.connect(),
      new Promise<never>((_, reject) => {
        timer = this.clock.setTimeout(() => reject(new TimeoutError('MeshClient.start (no welcome from the topology service: does the cluster have a member yet?)', startTimeoutMs)), startTimeoutMs)
      }),
    ]).catch(async (err: unknown) => {
      await this.close()
      // The service's refusal of the token is what the members would answer: UnauthorizedError
      // (sign the user in again), not a TopologyRefusedError to parse.
      const reason = err instanceof TopologyRefusedError ? String(err.details.reason) : ''
      throw reason.startsWith('unauthorized: ') ? new UnauthorizedError(reason.slice('unauthorized: '.length)) : err
    }).finally(() => timer && this.clock.clearTimeout(timer))
    this.settingsRef = welcome.settings
    this.scheduleRefresh(first)
    this.phase = 'running'
    return this
  }

  /** The replicated store of one virtual server, as on a member. */
  store(virtualServer: string | VirtualServerId): Store {
    if (!this.backend || this.phase !== 'running') throw new ClosedError('client (not started)')
    return new Store(toVs(virtualServer), this.backend, this.clock, this.opts.random ?? Math.random)
  }

  /** Sessions of one virtual server; the client id is `<subject>:<random>` unless given (members bind it to the subject). */
  sessions(opts: SessionClientOptions): SessionClient {
    if (!this.messengerRef || !this.links || this.phase !== 'running') throw new ClosedError('client (not started)')
    const messenger = this.messengerRef
    const links = this.links
    const vs = toVs(opts.virtualServer)
    return new SessionClient(
      {
        self: this.nodeId,
        sessionNodes: () => this.upMembers(SESSION_ENGINE_TYPE),
        request: async (to, m, body, timeoutMs) => {
          const via = await links.via(to)
          return messenger.request({ clusterId: this.clusterId, nodeId: this.nodeId, engineId: SESSION_ENGINE_ID }, { clusterId: this.clusterId, nodeId: via, engineId: SESSION_ENGINE_ID, virtualServerId: vs }, m, body, timeoutMs)
        },
      },
      { ...opts, clientId: opts.clientId ?? opts.token?.clientId ?? `${this.subject}:${randomClientId().slice(2)}` },
    )
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    if (this.refreshTimer) this.clock.clearTimeout(this.refreshTimer)
    this.topologyClient?.leave()
    this.topologyClient?.close()
    this.links?.close()
    this.messengerRef?.close()
    await this.backend?.close()
    await this.transport.close()
  }

  private upMembers(engineType?: string): NodeId[] {
    return this.topology
      .view()
      .members.filter((m) => m.status === 'up' && (!engineType || m.engines.some((e) => e.engineType === engineType)))
      .map((m) => m.nodeId)
  }

  /** A token from the option, kept as the current one only if it is for this client's subject. */
  private async fetchToken(): Promise<string> {
    const t = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token
    if (typeof t !== 'string') throw new InvalidClientTokenError('the token option gave no string')
    const { subject } = readToken(t)
    if (this.subjectRef !== undefined && subject !== this.subjectRef) throw new InvalidClientTokenError(`the token is for ${subject}, and this client is ${this.subjectRef}`)
    this.current = t
    return t
  }

  /**
   * The token to show now: the last one fetched, or a fresh one when that one has expired (or is
   * about to: a hello after the auth endpoint was away must not show a dead token).
   */
  private async token(): Promise<string> {
    const t = this.current
    if (t === undefined) return this.fetchToken()
    const { expiresAt } = readToken(t)
    if (typeof this.opts.token === 'function' && expiresAt !== undefined && expiresAt - this.clock.now() < 5000) return this.fetchToken()
    return t
  }

  /** With a token function, a fresh token at 80 % of the current one's life goes to the service and every link. */
  private scheduleRefresh(token: string): void {
    if (typeof this.opts.token !== 'function') return
    const { expiresAt } = readToken(token)
    if (expiresAt === undefined) return
    const wait = Math.max(1000, Math.min(2 ** 31 - 1, (expiresAt - this.clock.now()) * 0.8))
    this.refreshTimer = this.clock.setTimeout(() => {
      void (async () => {
        try {
          const fresh = await this.fetchToken()
          this.topologyClient?.sendToken(fresh)
          await this.links?.refresh()
          if (this.phase === 'running') this.scheduleRefresh(fresh)
        } catch (error) {
          this.events.emit('error', { error })
          if (this.phase === 'running') this.refreshTimer = this.clock.setTimeout(() => this.scheduleRefresh(this.current!), 5000)
        }
      })()
    }, wait)
  }
}

function randomClientId(): NodeId {
  return `c-${Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) => b.toString(16).padStart(2, '0')).join('')}` as NodeId
}
