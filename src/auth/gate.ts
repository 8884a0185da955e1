/**
 * What a member lets a client do (issue 34). Every request that arrives on a client's link comes
 * here instead of going to the engine it names:
 *   - `auth` {token}: the client's JWT, verified with the public key (again on each refresh);
 *     nothing else is served on the link before it, or after the token expired;
 *   - store `read`, `write`, `ping`: checked by `authorize`, then run by the store engine, which
 *     forwards to the key's primary when that is another member (the client reaches any member it
 *     has a link to, and that member relays);
 *   - store `watch`: the client's subscriptions, each checked; this member listens for them
 *     (announcing the patterns as its own) and passes every change on to the client;
 *   - session `create`, `get`, `patch`, `destroy`: checked, and bound to the subject: the client
 *     id (and the failover token's) must be the subject or start with `<subject>:`; calls on an
 *     existing session must carry the failover token, whose client the session must belong to;
 *   - everything else (replication, fetch, lead, hand-over, status, one-way messages) is refused.
 */
import * as v from '../util/schema.js'
import type { NodeId } from '../ids.js'
import type { Request } from '../routing/engine.js'
import { BadRequestError } from '../routing/methods.js'
import type { WatchPattern, ChangeEvent } from '../store/watch.js'
import { toWireEntry } from '../replication/log.js'
import { ForbiddenError, scopesAuthorize, TokenVerifier, UnauthorizedError, type Authorize, type ClientAuthOptions, type Credential, type Operation } from './credentials.js'

/** What a member hands its client gate: how to run what the gate lets through. */
export interface GateContext {
  clusterId: string
  now: () => number
  /** The local engines a client's allowed calls run on. */
  store: (req: Request) => unknown
  session: ((req: Request) => unknown) | undefined
  /** Listens for committed changes matching `pattern` on this member's behalf (as its own subscription); returns how to stop. */
  listen: (pattern: WatchPattern, listener: (e: ChangeEvent) => void) => () => void
  /**
   * Tells the other members this member's subscriptions as they are now (once for any number of
   * patterns added or dropped); resolves once they have them.
   */
  announce: () => Promise<void>
  /** Sends a one-way message to the client's link. */
  notify: (client: NodeId, method: string, body: unknown) => void
}

export interface ClientGateOptions extends GateContext {
  auth: ClientAuthOptions
}

/** What a member sees of its gate (MeshNodeOptions.clients makes one). */
export interface ClientDoorway {
  readonly stats: ClientGate['stats']
  handle(req: Request): Promise<unknown>
  dropped(client: NodeId): void
}

/**
 * Makes a member serve clients (`MeshNode` option `clients`): tokens checked with `auth.verifyJwt`
 * against `auth.publicKey`, calls decided by `auth.authorize`. Kept out of MeshNode itself, so a
 * browser app with member tabs that serve no clients does not carry it; the Node entry's
 * `serveClients` plugs in jose.
 */
export function serveClients(auth: ClientAuthOptions): (ctx: GateContext) => ClientDoorway {
  // Checked now, where the option is made, not at the first client.
  void new TokenVerifier(auth, '', () => 0)
  return (ctx) => new ClientGate({ ...ctx, auth })
}

const AuthSchema = v.object({ token: v.pipe(v.string(), v.maxLength(8192)) })
const PatternSchema = v.object({ vs: v.pipe(v.string(), v.minLength(1), v.maxLength(128)), key: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(4096))), prefix: v.optional(v.pipe(v.string(), v.maxLength(4096))) })
const WatchSchema = v.object({ patterns: v.pipe(v.array(PatternSchema), v.maxLength(1000)) })
/** What the gate reads of a store or session body before the engine validates the whole of it. */
const Addressed = v.object({ vs: v.pipe(v.string(), v.minLength(1), v.maxLength(128)), key: v.optional(v.string()), sessionId: v.optional(v.string()), clientId: v.optional(v.string()), token: v.optional(v.unknown()) })

const STORE_OPS: Record<string, Operation | 'free'> = { read: 'read', write: 'write', ping: 'free' }
const SESSION_OPS: Record<string, Operation> = { create: 'session-write', get: 'session-read', patch: 'session-write', destroy: 'session-write' }

interface ClientLink {
  credential: Credential | undefined
  /** The client's subscriptions here, each with the way to stop passing its changes on. */
  watches: { pattern: WatchPattern; off: () => void }[]
}

/**
 * The client ids a subject may use: `<subject>:<tab>`, with a tab part that is not empty and holds
 * no ':'. The owner is what comes before the last ':', so it is never ambiguous: subject `ali`
 * owns `ali:x`, never `ali:ce:x`, which is `ali:ce`'s.
 */
export const ownsClientId = (subject: string, clientId: unknown): boolean =>
  typeof clientId === 'string' && clientId.lastIndexOf(':') === subject.length && clientId.startsWith(`${subject}:`) && clientId.length > subject.length + 1

export class ClientGate {
  readonly stats = { served: 0, unauthorized: 0, forbidden: 0 }
  private readonly links = new Map<NodeId, ClientLink>()
  private readonly verifier: TokenVerifier
  private readonly authorize: Authorize

  constructor(private readonly opts: ClientGateOptions) {
    this.verifier = new TokenVerifier(opts.auth, opts.clusterId, opts.now)
    this.authorize = opts.auth.authorize ?? scopesAuthorize
  }

  /** The client's link went down: its subscriptions here go with it. */
  dropped(client: NodeId): void {
    const l = this.links.get(client)
    if (!l) return
    this.links.delete(client)
    for (const w of l.watches) w.off()
    if (l.watches.length > 0) void this.opts.announce()
  }

  async handle(req: Request): Promise<unknown> {
    try {
      return await this.serve(req)
    } catch (err) {
      if (err instanceof UnauthorizedError) this.stats.unauthorized++
      else if (err instanceof ForbiddenError) this.stats.forbidden++
      throw err
    }
  }

  private async serve(req: Request): Promise<unknown> {
    const client = req.fromNode
    let link = this.links.get(client)
    if (!link) this.links.set(client, (link = { credential: undefined, watches: [] }))
    const engine = 'engineId' in req.to ? String(req.to.engineId) : ''
    if (engine === 'store' && req.method === 'auth') {
      const body = parse(AuthSchema, req)
      const credential = await this.verifier.verify(body.token)
      if (link.credential && credential.subject !== link.credential.subject) throw new UnauthorizedError(`a link's subject cannot change (${link.credential.subject} → ${credential.subject})`)
      link.credential = credential
      // A fresh token may grant less: subscriptions it no longer allows stop here.
      const before = link.watches.length
      for (const w of [...link.watches]) {
        if (await this.allowed(credential, 'subscribe', w.pattern.vs, w.pattern.key, w.pattern.key === undefined ? (w.pattern.prefix ?? '') : undefined)) continue
        w.off()
        link.watches.splice(link.watches.indexOf(w), 1)
      }
      if (link.watches.length < before) void this.opts.announce()
      return { subject: credential.subject, expiresAt: credential.expiresAt }
    }
    const credential = link.credential
    if (!credential) throw new UnauthorizedError('no token on this link yet (send auth first)')
    if (this.opts.now() >= credential.expiresAt) throw new UnauthorizedError('token expired')
    if (engine === 'store') {
      if (req.method === 'watch') return this.watch(client, link, credential, parse(WatchSchema, req).patterns)
      const op = Object.hasOwn(STORE_OPS, req.method) ? STORE_OPS[req.method] : undefined
      if (!op) throw new ForbiddenError(credential.subject, `call "${req.method}"`, '*')
      if (op !== 'free') {
        const b = parse(Addressed, req)
        await this.check(credential, op, b.vs, b.key)
      }
      this.stats.served++
      return this.opts.store(req)
    }
    if (engine === 'session' && this.opts.session) {
      const op = Object.hasOwn(SESSION_OPS, req.method) ? SESSION_OPS[req.method] : undefined
      if (!op) throw new ForbiddenError(credential.subject, `call "${req.method}"`, '*')
      const b = parse(Addressed, req)
      const tokenClient = (b.token as { clientId?: unknown } | undefined)?.clientId
      if (req.method === 'create' ? !ownsClientId(credential.subject, b.clientId) : b.token === undefined) {
        throw new ForbiddenError(credential.subject, req.method === 'create' ? `create a session for client "${String(b.clientId)}"` : 'reach a session without its failover token', b.vs)
      }
      if (b.token !== undefined && !ownsClientId(credential.subject, tokenClient)) throw new ForbiddenError(credential.subject, `use the failover token of client "${String(tokenClient)}"`, b.vs)
      await this.check(credential, op, b.vs, b.sessionId)
      this.stats.served++
      return this.opts.session(req)
    }
    throw new ForbiddenError(credential.subject, `call "${req.method}" on engine "${engine}"`, '*')
  }

  private async check(credential: Credential, op: Operation, virtualServer: string, key: string | undefined, prefix?: string): Promise<void> {
    if (!(await this.allowed(credential, op, virtualServer, key, prefix))) throw new ForbiddenError(credential.subject, op, virtualServer, key ?? (prefix === undefined ? undefined : `${prefix}*`))
  }

  private async allowed(credential: Credential, op: Operation, virtualServer: string, key: string | undefined, prefix?: string): Promise<boolean> {
    return (await this.authorize({ subject: credential.subject, virtualServer, ...(key === undefined ? {} : { key }), ...(prefix === undefined ? {} : { prefix }), op, credential })) === true
  }

  /**
   * Replaces the client's subscriptions here with `patterns`. Each is checked on its own: the
   * allowed ones are held, and the answer names the refused ones (a refused one must not silence
   * the others).
   */
  private async watch(client: NodeId, link: ClientLink, credential: Credential, patterns: WatchPattern[]): Promise<{ watching: number; refused: WatchPattern[] }> {
    const refused: WatchPattern[] = []
    const taken: WatchPattern[] = []
    for (const p of patterns) ((await this.allowed(credential, 'subscribe', p.vs, p.key, p.key === undefined ? (p.prefix ?? '') : undefined)) ? taken : refused).push(p)
    for (const w of link.watches.splice(0)) w.off()
    for (const p of taken) {
      const pattern: WatchPattern = p.key !== undefined ? { vs: p.vs, key: p.key } : { vs: p.vs, prefix: p.prefix ?? '' }
      const off = this.opts.listen(pattern, (e) => {
        // A token that ran out stops the flow as it stops calls.
        if (link.credential && this.opts.now() < link.credential.expiresAt) this.opts.notify(client, 'changed', { domain: e.domain, entries: [toWireEntry({ seq: e.seq, epoch: 0, vs: e.vs, key: e.key, change: e.change })] })
      })
      link.watches.push({ pattern, off })
    }
    // Once for all of them, and answered only when the others have them: the client's next write is heard.
    await this.opts.announce()
    this.stats.served++
    if (refused.length > 0) this.stats.forbidden++
    return { watching: taken.length, refused }
  }
}

function parse<S extends v.GenericSchema>(schema: S, req: Request): v.InferOutput<S> {
  const r = v.safeParse(schema, req.body)
  if (!r.success) throw new BadRequestError(req.method, r.issues[0]?.message ?? 'invalid body')
  return r.output
}
