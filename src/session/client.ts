/**
 * The client SDK for sessions (browser and Node): it sends each request to the node that serves
 * the client, keeps the newest failover token from every answer, and when that node cannot be
 * reached sends the same request with the token to the backups it names, then to any node with a
 * session engine. The application sees one slower call, not an error.
 */
import type { Draft, Patch } from 'immer'
import { askElsewhere, isUnreachable, type DomainMeshError, KeyNotFoundError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { NoLiveReplicaError } from './errors.js'
import type { SessionReply } from './engine.js'
import { compareToken } from './route.js'
import type { FailoverToken } from './token.js'
import { produceWithPatches } from '../util/patches.js'

export interface SessionTransport {
  /** This node's id (the client may run on a member node). */
  self: NodeId
  /** Up members that host a session engine. */
  sessionNodes(): NodeId[]
  request(to: NodeId, method: string, body: unknown, timeoutMs: number): Promise<unknown>
}

export interface SessionClientOptions {
  virtualServer: string
  clientId?: string
  /** The node to serve this client at first; default: one picked from the members by client id. */
  serving?: NodeId
  /** How long to wait for one node before trying the next. */
  attemptTimeoutMs?: number
  /**
   * A token an earlier client object of the same client received (an app may keep it across a
   * page reload): the new object reaches the client's sessions wherever they are served now.
   */
  token?: FailoverToken
}

/**
 * Errors after which another node may still answer: this one could not be reached (`unreachable`),
 * no longer serves the client, or knows no live copy (`askElsewhere`: a node that restarted empty
 * knows nothing).
 */
const tryNext = (err: unknown): boolean => isUnreachable(err) || askElsewhere(err)
/**
 * How often one node may answer that the token is older than one the client already used (other
 * calls of the same client moved it on meanwhile) before the call gives up.
 */
const MAX_STALE_TOKEN = 5

export class SessionClient {
  readonly clientId: string
  readonly virtualServer: string
  /** The newest failover token; survives as long as the client object. */
  token: FailoverToken | undefined
  /** Nodes tried and found unreachable by the last call (for displays and tests). */
  lastFailover: NodeId[] = []

  constructor(
    private readonly transport: SessionTransport,
    private readonly opts: SessionClientOptions,
  ) {
    this.virtualServer = opts.virtualServer
    this.clientId = opts.token?.clientId ?? opts.clientId ?? `client-${Math.random().toString(36).slice(2, 12)}`
    this.token = opts.token
  }

  async create<T>(data: T, opts: { ttlMs?: number } = {}): Promise<string> {
    const r = (await this.call('create', { clientId: this.clientId, data, ...opts })) as { sessionId: string }
    return r.sessionId
  }

  async get<T = unknown>(sessionId: string, path?: (string | number)[]): Promise<T> {
    return ((await this.call('get', { sessionId, ...(path ? { path } : {}) })) as { value: T }).value
  }

  async getVersioned<T = unknown>(sessionId: string): Promise<{ value: T; version: number }> {
    return (await this.call('get', { sessionId })) as { value: T; version: number }
  }

  async patch(sessionId: string, patches: Patch[], opts: { ifVersion?: number } = {}): Promise<{ version: number }> {
    return (await this.call('patch', { sessionId, patches, ...opts })) as { version: number }
  }

  /** Runs an Immer recipe on the current data and sends only the patches (retried on a conflict). */
  async update<T>(sessionId: string, recipe: (draft: Draft<T>) => void, retries = 5): Promise<{ version: number } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const base = await this.getVersioned<T>(sessionId)
      if (base.value === undefined) throw new KeyNotFoundError(sessionId)
      const [, patches] = produceWithPatches(base.value, recipe)
      if (patches.length === 0) return undefined
      try {
        return await this.patch(sessionId, patches, { ifVersion: base.version })
      } catch (err) {
        if ((err as DomainMeshError).code !== 'CAS_CONFLICT' || attempt >= retries) throw err
      }
    }
  }

  async destroy(sessionId: string): Promise<void> {
    await this.call('destroy', { sessionId })
  }

  /** Keeps the newer of the client's token and `t`. */
  private keep(t: FailoverToken): void {
    if (!this.token || compareToken(t, this.token) > 0) this.token = t
  }

  private candidates(): NodeId[] {
    const members = this.transport.sessionNodes()
    const first = this.token ? [this.token.primary, ...this.token.backups] : [this.opts.serving ?? this.pick(members)]
    return [...first, ...members.filter((m) => !first.includes(m))].filter((n): n is NodeId => n !== undefined)
  }

  private pick(members: NodeId[]): NodeId | undefined {
    const others = members.filter((m) => m !== this.transport.self)
    const pool = others.length > 0 ? others : members
    let h = 0
    for (const ch of this.clientId) h = (h * 31 + ch.charCodeAt(0)) >>> 0
    return pool.sort()[h % Math.max(1, pool.length)]
  }

  private async call(method: string, body: Record<string, unknown>): Promise<unknown> {
    const tried: NodeId[] = []
    let stale = 0
    for (const node of this.candidates()) {
      for (;;) {
        try {
          const reply = (await this.transport.request(node, method, { ...body, vs: this.virtualServer, ...(this.token ? { token: this.token } : {}) }, this.opts.attemptTimeoutMs ?? 3000)) as SessionReply
          this.keep(reply.token)
          this.lastFailover = tried
          return reply.result
        } catch (err) {
          const e = err as DomainMeshError
          // Nothing was done: the same request goes again with the newer token the node sent.
          if (e.code === 'STALE_TOKEN' && stale++ < MAX_STALE_TOKEN) {
            this.keep(e.details.token as FailoverToken)
            continue
          }
          if (!tryNext(e)) throw err
          tried.push(node)
          break
        }
      }
    }
    this.lastFailover = tried
    throw new NoLiveReplicaError(this.clientId, tried)
  }
}
