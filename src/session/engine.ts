/**
 * The `session` engine. The node that serves a client is the primary of all of its sessions; the
 * backups chosen with the client's first session hold every later one too (colocation), so one
 * recovery server can take over the whole client. Every write is on the backups before it is
 * answered. A request that reaches a node that does not serve the client carries the client's
 * signed failover token: the node forwards it to the token's primary if that one is alive, else
 * to the first live backup in the token, which promotes all the client's sessions, picks new
 * colocated backups, serves the request and hands out a new token.
 */
import type { Patch } from 'immer'
import * as v from 'valibot'
import { engineId, engineType, type NodeId } from '../ids.js'
import type { Engine, Request } from '../routing/engine.js'
import { method, methodTable } from '../routing/methods.js'
import { PatchSchema } from '../state/log.js'
import { DEFAULT_LIMITS, checkPatches, checkValue, type Limits } from '../state/guard.js'
import { applyChange, checkCas, versionAt, type StoredObject } from '../state/objects.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import { hash32 } from '../util/hash.js'
import { Emitter } from '../util/events.js'
import { PathNotFoundError } from '../state/errors.js'
import { InvalidTokenError, NoLiveReplicaError, SessionNotFoundError, VirtualServerMismatchError } from './errors.js'
import { SessionTable, type ClientEntry, type SessionRecord } from './table.js'
import { signToken, verifyToken, type FailoverToken } from './token.js'

export const SESSION_ENGINE_ID = engineId('session')
export const SESSION_ENGINE_TYPE = engineType('session')
export const SESSION_ENGINE_INFO = { engineId: SESSION_ENGINE_ID, engineType: SESSION_ENGINE_TYPE, virtualServers: '*' as const }
const MAX_HOPS = 2

export interface SessionContext {
  self: NodeId
  secret: string
  clock: Clock
  /** Copies of each client's sessions, primary included. */
  replicas: () => number
  /** Other up members with a session engine that we can reach right now. */
  liveNodes: () => NodeId[]
  request: (to: NodeId, method: string, body: unknown) => Promise<unknown>
  limits?: Limits
  defaultTtlMs?: number
}

export interface SessionReply<T = unknown> {
  result: T
  token: FailoverToken
}

const Vs = v.pipe(v.string(), v.minLength(1), v.maxLength(128))
const Sid = v.pipe(v.string(), v.minLength(1), v.maxLength(64))
const Common = { vs: Vs, token: v.optional(v.unknown()), hops: v.optional(v.number()) }
const RecordSchema = v.object({ sessionId: Sid, clientId: v.string(), vs: Vs, value: v.unknown(), version: v.number(), ttlMs: v.number(), expiresAt: v.number() })

export class SessionEngine implements Engine {
  readonly engineId = SESSION_ENGINE_ID
  readonly engineType = SESSION_ENGINE_TYPE
  readonly virtualServers = '*' as const
  readonly table: SessionTable
  readonly events = new Emitter<{ error: { error: unknown } }>()
  readonly handle: (req: Request) => unknown
  private sweeper: TimerHandle | undefined
  private readonly limits: Limits

  constructor(private readonly ctx: SessionContext) {
    this.table = new SessionTable(() => ctx.clock.now())
    this.limits = ctx.limits ?? DEFAULT_LIMITS
    this.handle = methodTable({
      create: method(v.object({ ...Common, clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)), data: v.unknown(), ttlMs: v.optional(v.pipe(v.number(), v.minValue(1))) }), (b) =>
        this.serve(b.vs, b.clientId, undefined, b.token, b.hops ?? 0, 'create', b, (e) => this.create(e, b.data, b.ttlMs)),
      ),
      get: method(v.object({ ...Common, sessionId: Sid, path: v.optional(v.array(v.union([v.string(), v.number()]))) }), (b) =>
        this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'get', b, (e) => this.read(e, b.sessionId, b.path ?? [])),
      ),
      patch: method(v.object({ ...Common, sessionId: Sid, patches: v.array(PatchSchema), ifVersion: v.optional(v.number()) }), (b) =>
        this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'patch', b, (e) => this.patch(e, b.sessionId, b.patches as Patch[], b.ifVersion)),
      ),
      destroy: method(v.object({ ...Common, sessionId: Sid }), (b) => this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'destroy', b, (e) => this.destroy(e, b.sessionId))),
      replicate: method(
        v.object({ vs: Vs, clientId: v.string(), epoch: v.number(), backups: v.array(v.string()), full: v.boolean(), put: v.array(RecordSchema), remove: v.array(Sid) }),
        (b, req) => this.onReplicate(req.fromNode, b),
      ),
    })
    this.sweep()
  }

  close(): void {
    if (this.sweeper) this.ctx.clock.clearTimeout(this.sweeper)
  }

  /** Replaces dead backups of every client we serve (called on each view). */
  async repairBackups(): Promise<void> {
    const live = new Set(this.ctx.liveNodes())
    for (const e of this.table.clientsLed()) if (e.backups.some((b) => !live.has(b)) || e.backups.length < this.wanted()) await this.rebuildBackups(e)
  }

  // ---- routing a client's request to whoever serves the client ----

  private async serve(vs: string, clientIdIn: string | undefined, sessionId: string | undefined, rawToken: unknown, hops: number, name: string, body: object, op: (e: ClientEntry) => Promise<unknown>): Promise<SessionReply> {
    const token = rawToken === undefined ? undefined : await verifyToken(this.ctx.secret, rawToken)
    if (token && token.vs !== vs) throw new VirtualServerMismatchError(vs, token.vs)
    const rec = sessionId ? this.table.get(vs, sessionId) : undefined
    if (sessionId && !rec && this.table.findAnyVs(sessionId)) throw new VirtualServerMismatchError(vs, this.table.findAnyVs(sessionId)!.vs)
    if (rec && token && token.clientId !== rec.clientId) throw new InvalidTokenError('it belongs to another client')
    const clientId = token?.clientId ?? rec?.clientId ?? clientIdIn
    if (!clientId) throw new SessionNotFoundError(sessionId ?? '')
    let entry = this.table.client(vs, clientId)
    if (entry?.role === 'primary' && (!token || token.epoch <= entry.epoch)) return this.reply(entry, await op(entry))
    if (!token) {
      if (name === 'create' && !entry) return this.reply((entry = this.newClient(vs, clientId)), await op(entry))
      throw new InvalidTokenError('a token is needed to reach a session through a node that does not serve it')
    }
    const live = new Set(this.ctx.liveNodes())
    const forward = (to: NodeId) => this.ctx.request(to, name, { ...body, token, hops: hops + 1 }) as Promise<SessionReply>
    if (token.primary !== this.ctx.self && live.has(token.primary) && hops < MAX_HOPS) return forward(token.primary)
    const recovery = token.backups.find((b) => b === this.ctx.self || live.has(b))
    if (recovery === this.ctx.self) return this.reply((entry = await this.promote(vs, clientId, token)), await op(entry))
    if (recovery && hops < MAX_HOPS) return forward(recovery)
    throw new NoLiveReplicaError(clientId, [token.primary, ...token.backups])
  }

  private async reply(e: ClientEntry, result: unknown): Promise<SessionReply> {
    return { result, token: await signToken(this.ctx.secret, { clientId: e.clientId, vs: e.vs, primary: this.ctx.self, backups: e.backups, epoch: e.epoch }) }
  }

  // ---- operations on the primary ----

  private async create(e: ClientEntry, data: unknown, ttlMs: number | undefined): Promise<{ sessionId: string; version: number }> {
    checkValue(data, this.limits, 'session data')
    const sessionId = randomId()
    const ttl = ttlMs ?? this.ctx.defaultTtlMs ?? 30 * 60_000
    const rec: SessionRecord = { sessionId, clientId: e.clientId, vs: e.vs, obj: applyChange(sessionId, undefined, { kind: 'put', value: data }, 1)!, ttlMs: ttl, expiresAt: this.ctx.clock.now() + ttl }
    await this.replicate(e, [rec], [])
    this.table.put(rec)
    return { sessionId, version: 1 }
  }

  private async read(e: ClientEntry, sessionId: string, path: (string | number)[]): Promise<{ value: unknown; version: number }> {
    const rec = this.owned(e, sessionId)
    let value: unknown = rec.obj.value
    for (const seg of path) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, seg)) throw new PathNotFoundError(sessionId, path)
      value = (value as Record<string | number, unknown>)[seg]
    }
    return { value, version: versionAt(rec.obj, path) }
  }

  private async patch(e: ClientEntry, sessionId: string, patches: Patch[], ifVersion: number | undefined): Promise<{ version: number }> {
    const rec = this.owned(e, sessionId)
    checkPatches(patches, this.limits)
    const change = { kind: 'patch' as const, patches }
    if (ifVersion !== undefined) checkCas(sessionId, rec.obj, change, ifVersion)
    const version = rec.obj.version + 1
    const next: SessionRecord = { ...rec, obj: applyChange(sessionId, rec.obj, change, version) as StoredObject, expiresAt: this.ctx.clock.now() + rec.ttlMs }
    await this.replicate(e, [next], [])
    this.table.put(next)
    return { version }
  }

  private async destroy(e: ClientEntry, sessionId: string): Promise<{ destroyed: true }> {
    this.owned(e, sessionId)
    await this.replicate(e, [], [sessionId])
    this.table.delete(e.vs, sessionId)
    return { destroyed: true }
  }

  private owned(e: ClientEntry, sessionId: string): SessionRecord {
    const rec = this.table.get(e.vs, sessionId)
    if (!rec || rec.clientId !== e.clientId) throw new SessionNotFoundError(sessionId)
    return rec
  }

  // ---- colocation: one set of backups per client ----

  private wanted(): number {
    return Math.max(0, this.ctx.replicas() - 1)
  }

  /** Backups for a client: live nodes ranked by a hash of the client id, keeping `prefer` first. */
  private chooseBackups(clientId: string, prefer: readonly NodeId[] = []): NodeId[] {
    const live = this.ctx.liveNodes()
    const ranked = [...prefer.filter((n) => live.includes(n)), ...live.filter((n) => !prefer.includes(n)).sort((a, b) => hash32(`${clientId}:${b}`) - hash32(`${clientId}:${a}`))]
    return ranked.slice(0, this.wanted())
  }

  private newClient(vs: string, clientId: string): ClientEntry {
    const e: ClientEntry = { clientId, vs, role: 'primary', primary: this.ctx.self, backups: this.chooseBackups(clientId), epoch: 1, sessions: new Set() }
    this.table.setClient(e)
    return e
  }

  /** This node becomes the client's primary: new colocated backups get every session of the client. */
  private async promote(vs: string, clientId: string, token: FailoverToken): Promise<ClientEntry> {
    const old = this.table.client(vs, clientId)
    const e: ClientEntry = { clientId, vs, role: 'primary', primary: this.ctx.self, backups: [], epoch: Math.max(token.epoch, old?.epoch ?? 0) + 1, sessions: old?.sessions ?? new Set() }
    this.table.setClient(e)
    await this.rebuildBackups(e, token.backups)
    return e
  }

  private async rebuildBackups(e: ClientEntry, prefer: readonly NodeId[] = e.backups): Promise<void> {
    e.backups = this.chooseBackups(e.clientId, prefer)
    e.epoch++
    await this.replicate(e, this.table.sessionsOf(e.vs, e.clientId), [], true)
  }

  /** Puts the change on every backup before the caller hears of it; a backup that fails is replaced. */
  private async replicate(e: ClientEntry, put: SessionRecord[], remove: string[], full = false): Promise<void> {
    // The client's whole state as it will be after this change (for a new or replaced backup).
    const everything = () => {
      const all = new Map(this.table.sessionsOf(e.vs, e.clientId).map((r) => [r.sessionId, r]))
      for (const r of put) all.set(r.sessionId, r)
      for (const id of remove) all.delete(id)
      return [...all.values()]
    }
    const body = (all: boolean) => ({ vs: e.vs, clientId: e.clientId, epoch: e.epoch, backups: e.backups, full: all, put: (all ? everything() : put).map(toWire), remove: all ? [] : remove })
    const failed: NodeId[] = []
    await Promise.all(
      e.backups.map((b) =>
        this.ctx.request(b, 'replicate', body(full)).catch(() => {
          failed.push(b)
        }),
      ),
    )
    if (failed.length === 0) return
    // A backup we cannot reach is replaced, and the new one gets the client's whole state.
    e.backups = this.chooseBackups(e.clientId, e.backups.filter((b) => !failed.includes(b)))
    e.epoch++
    await Promise.all(e.backups.map((b) => this.ctx.request(b, 'replicate', body(true))))
  }

  private onReplicate(from: NodeId, b: { vs: string; clientId: string; epoch: number; backups: string[]; full: boolean; put: v.InferOutput<typeof RecordSchema>[]; remove: string[] }): { ok: true } {
    const old = this.table.client(b.vs, b.clientId)
    if (old && old.epoch > b.epoch) throw new InvalidTokenError(`replication from ${from} at epoch ${b.epoch} is older than ${old.epoch}`)
    const e: ClientEntry = { clientId: b.clientId, vs: b.vs, role: 'backup', primary: from, backups: b.backups as NodeId[], epoch: b.epoch, sessions: old?.sessions ?? new Set() }
    this.table.setClient(e)
    if (b.full) for (const id of [...e.sessions]) if (!b.put.some((p) => p.sessionId === id)) this.table.delete(b.vs, id)
    for (const r of b.put) this.table.put({ sessionId: r.sessionId, clientId: r.clientId, vs: r.vs, ttlMs: r.ttlMs, expiresAt: r.expiresAt, obj: applyChange(r.sessionId, undefined, { kind: 'put', value: r.value }, r.version)! })
    for (const id of b.remove) this.table.delete(b.vs, id)
    return { ok: true }
  }

  private sweep(): void {
    this.sweeper = this.ctx.clock.setTimeout(() => {
      this.table.sweep()
      this.sweep()
    }, 1000)
  }
}

const toWire = (r: SessionRecord) => ({ sessionId: r.sessionId, clientId: r.clientId, vs: r.vs, value: r.obj.value, version: r.obj.version, ttlMs: r.ttlMs, expiresAt: r.expiresAt })

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('')
}
