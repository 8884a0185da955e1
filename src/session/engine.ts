/**
 * The `session` engine. The node that serves a client is the primary of all of its sessions; the
 * backups chosen with the client's first session hold every later one too (colocation), so one
 * recovery server can take over the whole client. Every write is on the backups before it is
 * answered. A request that reaches a node that does not serve the client carries the client's
 * signed failover token: the node forwards it to the token's primary if that one is alive, else
 * to the first live backup in the token, which promotes all the client's sessions, picks new
 * colocated backups, serves the request and hands out a new token (see `route.ts`). A backup
 * whose primary the view shows down does the same at once, without waiting for the client.
 */
import type { Patch } from 'immer'
import * as v from '../util/schema.js'
import { engineId, engineType, type NodeId } from '../ids.js'
import { isUnreachable, PathNotFoundError } from '../errors.js'
import type { Engine, Request } from '../routing/engine.js'
import { method, methodTable } from '../routing/methods.js'
import { PatchSchema } from '../replication/log.js'
import { DEFAULT_LIMITS, checkPatches, checkValue, type Limits } from '../objects/guard.js'
import { applyChange, checkCas, jsonValue, normalizeChange, versionAt, type StoredObject } from '../objects/objects.js'
import type { TimerHandle } from '../util/clock.js'
import { SerialQueue } from '../util/serial.js'
import { Emitter } from '../util/events.js'
import { InvalidTokenError, NoLiveReplicaError, NotEnoughReplicasError, ClientMovedError, SessionNotFoundError, StaleTokenError, VirtualServerMismatchError } from './errors.js'
import { SessionHandoffs } from './handoff.js'
import { SessionReplication, RecordSchema, ReplicateSchema, otherLine, probeAnswer, type Line, type ReplicationContext } from './replication.js'
import { compareAuthority, compareToken, route, type Authority } from './route.js'
import { SessionTable, type ClientEntry, type SessionRecord } from './table.js'
import { signToken, verifyToken, type FailoverToken } from './token.js'

export const SESSION_ENGINE_ID = engineId('session')
export const SESSION_ENGINE_TYPE = engineType('session')
export const SESSION_ENGINE_INFO = { engineId: SESSION_ENGINE_ID, engineType: SESSION_ENGINE_TYPE, virtualServers: '*' as const }
const MAX_HOPS = 3
/** Expected while nodes are down or unreachable; the next view or sweep tries again. */
const quiet = (err: unknown): boolean => isUnreachable(err) || err instanceof NotEnoughReplicasError || err instanceof ClientMovedError

export interface SessionContext extends ReplicationContext {
  secret: string
  /**
   * Fills a buffer with random bytes for session and line ids (default: crypto.getRandomValues).
   * A session id is what a caller names its session by, so in production it must be unguessable;
   * the simulation passes a seeded source so that a seed replays the same ids (and placements).
   */
  randomBytes?: (bytes: Uint8Array) => Uint8Array
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

export class SessionEngine implements Engine {
  readonly engineId = SESSION_ENGINE_ID
  readonly engineType = SESSION_ENGINE_TYPE
  readonly virtualServers = '*' as const
  readonly table: SessionTable
  readonly events = new Emitter<{ error: { error: unknown } }>()
  readonly handle: (req: Request) => unknown
  private readonly replication: SessionReplication
  /** Writes, promotions and backup changes of one client run one at a time. */
  private readonly serial = new SerialQueue()
  private readonly handoffs: SessionHandoffs
  private sweeper: TimerHandle | undefined
  private readonly repairing = new Set<ClientEntry>()
  private readonly limits: Limits

  constructor(private readonly ctx: SessionContext) {
    this.table = new SessionTable(() => ctx.clock.now())
    this.replication = new SessionReplication(ctx, this.table, (vs, clientId, sessions, to, epoch) => this.handoffs.handOver(vs, clientId, sessions, to, epoch))
    this.handoffs = new SessionHandoffs({ ctx, table: this.table, replication: this.replication, locked: (e, w) => this.locked(e, w), startLine: (vs, clientId, epoch) => this.newClient(vs, clientId, epoch), report: (error) => this.report(error), maxHops: MAX_HOPS })
    this.limits = ctx.limits ?? DEFAULT_LIMITS
    this.handle = methodTable({
      create: method(v.object({ ...Common, clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)), data: v.unknown(), ttlMs: v.optional(v.pipe(v.number(), v.minValue(1))) }), (b) =>
        this.serve(b.vs, b.clientId, undefined, b.token, b.hops ?? 0, 'create', b, (e, t) => this.served(e, t, () => this.create(e, b.data, b.ttlMs))),
      ),
      get: method(v.object({ ...Common, sessionId: Sid, path: v.optional(v.array(v.union([v.string(), v.number()]))) }), (b) =>
        this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'get', b, (e, t) => this.served(e, t, () => this.read(e, b.sessionId, b.path ?? []))),
      ),
      patch: method(v.object({ ...Common, sessionId: Sid, patches: v.array(PatchSchema), ifVersion: v.optional(v.number()) }), (b) =>
        this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'patch', b, (e, t) => this.served(e, t, () => this.patch(e, b.sessionId, b.patches as Patch[], b.ifVersion))),
      ),
      destroy: method(v.object({ ...Common, sessionId: Sid }), (b) => this.serve(b.vs, undefined, b.sessionId, b.token, b.hops ?? 0, 'destroy', b, (e, t) => this.served(e, t, () => this.destroy(e, b.sessionId)))),
      replicate: method(ReplicateSchema, (b, req) => this.replication.onReplicate(req.fromNode, b)),
      adopt: method(v.object({ vs: Vs, clientId: v.string(), put: v.array(RecordSchema), hops: v.optional(v.number()) }), (b) => this.handoffs.adopt(b.vs, b.clientId, b.put, b.hops ?? 0)),
      probe: method(v.object({ vs: Vs, clientId: v.string() }), (b) => probeAnswer(this.table.client(b.vs, b.clientId))),
      holds: method(v.object({ clients: v.pipe(v.array(v.object({ vs: Vs, clientId: v.string(), epoch: v.number() })), v.maxLength(100_000)) }), (b, req) => ({
        missing: b.clients.flatMap(({ vs, clientId, epoch }, i) => {
          const e = this.table.client(vs, clientId)
          return e && e.role === 'backup' && e.primary === req.fromNode && e.epoch === epoch ? [] : [i]
        }),
      })),
      find: method(v.object({ vs: Vs, clientId: v.string(), sessionId: Sid }), (b) => this.handoffs.find(b.vs, b.clientId, b.sessionId)),
      leads: method(v.object({ clients: v.pipe(v.array(v.object({ vs: Vs, clientId: v.string(), epoch: v.number(), line: v.optional(v.pipe(v.string(), v.maxLength(64))) })), v.maxLength(100_000)) }), (b, req) => this.onLeads(req.fromNode, b.clients)),
    })
    this.sweep()
  }

  /** Sessions this node holds only to hand them to another line: a single copy until adopted. */
  get handoffsPending(): number {
    return this.handoffs.pending
  }

  close(): void {
    if (this.sweeper) this.ctx.clock.clearTimeout(this.sweeper)
  }

  /**
   * On every view, and every second: a primary replaces backups the view shows down (or adds
   * missing ones). A backup whose primary is down takes the client over if it is the first of the
   * backups that is up, so the copies are whole again before another node can fail, not only when
   * the client calls; one whose primary is up asks it whether it still leads the client (a primary
   * that restarted has forgotten it) and drops its copy if the primary chose other backups.
   */
  async onView(sweep = false): Promise<void> {
    const up = new Set(this.ctx.upNodes())
    const wanted = this.replication.wanted()
    const work: Promise<unknown>[] = []
    const ask = new Map<NodeId, ClientEntry[]>()
    const verify = new Map<NodeId, ClientEntry[]>()
    for (const e of this.table.allClients()) {
      if (e.role === 'primary') {
        if (e.dirty || e.backups.some((b) => !up.has(b)) || e.backups.length < wanted) work.push(this.repair(e))
        else if (sweep) for (const b of e.backups) group(verify, b, e)
      } else if (e.primary !== this.ctx.self && !up.has(e.primary)) {
        if (sweep || this.firstUpBackup(e, up)) work.push(this.takeOver(e))
      } else if (e.primary !== this.ctx.self) group(ask, e.primary, e)
    }
    for (const [primary, entries] of ask) work.push(this.checkLeads(primary, entries))
    for (const [backup, entries] of verify) work.push(this.checkHolds(backup, entries))
    work.push(...this.handoffs.retryAll())
    const failures = (await Promise.allSettled(work)).filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    for (const f of failures) this.report(f.reason)
  }

  private report(error: unknown): void {
    if (!quiet(error)) this.events.emit('error', { error })
  }

  private async checkLeads(primary: NodeId, entries: ClientEntry[]): Promise<void> {
    const r = (await this.ctx.request(primary, 'leads', { clients: entries.map((e) => ({ vs: e.vs, clientId: e.clientId, epoch: e.epoch, ...(e.copy ? { line: e.copy.line } : {}) })) })) as { answers: ('ok' | 'other-backups' | 'other-line' | 'not-leading')[] }
    await Promise.all(
      entries.map(async (e, i) => {
        if (this.table.client(e.vs, e.clientId) !== e) return // changed while we asked
        if (r.answers[i] === 'other-backups') this.table.dropClient(e.vs, e.clientId)
        else if (r.answers[i] === 'other-line') {
          // The primary restarted and started the client again: its line lacks the sessions of
          // the one we followed, and our copy may be the last one. They go to it before ours goes.
          this.handoffs.handOver(e.vs, e.clientId, this.table.sessionsOf(e.vs, e.clientId), primary, e.epoch)
          this.table.dropClient(e.vs, e.clientId)
        } else if (r.answers[i] === 'not-leading') await this.takeOver(e)
      }),
    )
  }

  /** A primary asks a backup whether it still holds its copy (a backup that restarted has none). */
  private async checkHolds(backup: NodeId, entries: ClientEntry[]): Promise<void> {
    const r = (await this.ctx.request(backup, 'holds', { clients: entries.map((e) => ({ vs: e.vs, clientId: e.clientId, epoch: e.epoch })) }, 1000)) as { missing: number[] }
    await Promise.all(r.missing.map((i) => this.repair(entries[i]!)))
  }

  /**
   * Re-copies a client's state to a whole set of backups. One at a time per client: a repair can
   * wait seconds for a node, and views and sweeps must not queue more of them meanwhile, or a
   * hand-over waiting for the same lock would wait for all of them.
   */
  private repair(e: ClientEntry): Promise<void> {
    if (this.repairing.has(e)) return Promise.resolve()
    this.repairing.add(e)
    return this.locked(e, () => this.replication.rebuild(e)).finally(() => this.repairing.delete(e))
  }

  /**
   * Whether this node still leads a client at the backup's epoch with the backup among its
   * backups. 'other-backups' lets the backup drop its copy: this line replaced it and holds every
   * session it has. 'other-line': this node restarted and started the client again at that epoch,
   * so the backup's copy is of a line this one never had, and its sessions must come here.
   */
  private onLeads(from: NodeId, clients: { vs: string; clientId: string; epoch: number; line?: string | undefined }[]): { answers: string[] } {
    return {
      answers: clients.map(({ vs, clientId, epoch, line }) => {
        const e = this.table.client(vs, clientId)
        if (!e || e.role !== 'primary' || e.epoch !== epoch) return 'not-leading'
        if (otherLine(e.copy, line === undefined ? undefined : { line, rev: 0 })) return 'other-line'
        return e.backups.includes(from) ? 'ok' : 'other-backups'
      }),
    }
  }

  /**
   * On a view, only the first backup that is up takes over, so that two do not race; a sweep
   * lets any backup try (the first may hold no copy), and the fence in `promote` keeps that safe.
   */
  private firstUpBackup(e: ClientEntry, up: ReadonlySet<NodeId>): boolean {
    return e.backups.find((b) => b === this.ctx.self || up.has(b)) === this.ctx.self
  }

  private takeOver(e: ClientEntry): Promise<ClientEntry> {
    return this.serial.run(`${e.vs}\u0000${e.clientId}`, () => this.promote(e.vs, e.clientId, e))
  }

  // ---- routing a client's request to whoever serves the client ----

  private async serve(vs: string, clientIdIn: string | undefined, sessionId: string | undefined, rawToken: unknown, hops: number, name: string, body: object, op: (e: ClientEntry, token: FailoverToken | undefined) => Promise<unknown>): Promise<SessionReply> {
    const token = rawToken === undefined ? undefined : await verifyToken(this.ctx.secret, rawToken)
    if (token && token.vs !== vs) throw new VirtualServerMismatchError(vs, token.vs)
    const rec = sessionId ? this.table.get(vs, sessionId) : undefined
    if (sessionId && !rec && this.table.findAnyVs(sessionId)) throw new VirtualServerMismatchError(vs, this.table.findAnyVs(sessionId)!.vs)
    if (rec && token && token.clientId !== rec.clientId) throw new InvalidTokenError('it belongs to another client')
    const clientId = token?.clientId ?? rec?.clientId ?? clientIdIn
    if (!clientId) throw new SessionNotFoundError(sessionId ?? '')
    const entry = this.table.client(vs, clientId)
    const r = route({ self: this.ctx.self, entry, token, live: new Set(this.ctx.liveNodes()), mayForward: hops < MAX_HOPS, isCreate: name === 'create' })
    switch (r.kind) {
      case 'serve':
        return this.reply(entry!, await this.handoffs.orPull(entry!, sessionId, (e) => op(e, token)))
      case 'create':
        return this.reply(this.newClient(vs, clientId), await op(this.table.client(vs, clientId)!, token))
      case 'forward':
        return this.ctx.request(r.to, name, { ...body, token, hops: hops + 1 }) as Promise<SessionReply>
      case 'promote': {
        const e = await this.serial.run(`${vs}\u0000${clientId}`, () => this.promote(vs, clientId, r.from))
        return this.reply(e, await this.handoffs.orPull(e, sessionId, (e) => op(e, token)))
      }
      case 'need-token':
        throw new InvalidTokenError('a token is needed to reach a session through a node that does not serve it')
      case 'no-replica':
        throw new NoLiveReplicaError(clientId, r.tried)
    }
  }

  private async reply(e: ClientEntry, result: unknown): Promise<SessionReply> {
    return { result, token: await this.newToken(e) }
  }

  /** A token newer than every one this node handed out for the client, and than the client sent. */
  private newToken(e: ClientEntry): Promise<FailoverToken> {
    e.issued = (e.issued ?? 0) + 1
    return signToken(this.ctx.secret, { clientId: e.clientId, vs: e.vs, primary: this.ctx.self, backups: e.backups, epoch: e.epoch, seq: e.issued })
  }

  /**
   * Runs a client's request under the client's lock, unless the token it carries is older than
   * one the client has already sent (or it carries none after the client sent one). Such a
   * request is a copy of an attempt the client gave up: it waited somewhere (in a paused node's
   * inbox, say) while the client tried elsewhere, got its answer and went on; run now, it would
   * write over what the client wrote since. Every answer's token is newer than the request's, so
   * the client's next request always carries a newer token than its abandoned attempts did.
   */
  private served<T>(e: ClientEntry, token: FailoverToken | undefined, write: () => Promise<T>): Promise<T> {
    return this.locked(e, async () => {
      if ((e.seen || e.issued) && (!token || (e.seen && compareToken(token, e.seen) < 0))) throw new StaleTokenError(e.clientId, await this.newToken(e))
      if (token && (!e.seen || compareToken(token, e.seen) > 0)) {
        e.seen = { primary: token.primary, epoch: token.epoch, seq: token.seq ?? 0 }
        // The client may hold a token of this very primary and epoch from before this entry
        // (this node restarted and started the client again): answers must still be newer.
        if (compareAuthority(token, { primary: this.ctx.self, epoch: e.epoch }) === 0) e.issued = Math.max(e.issued ?? 0, token.seq ?? 0)
      }
      return write()
    })
  }

  /** Runs a write under the client's lock, as long as this node still serves the client. */
  private locked<T>(e: ClientEntry, write: () => Promise<T>): Promise<T> {
    return this.serial.run(`${e.vs}\u0000${e.clientId}`, async () => {
      if (this.table.client(e.vs, e.clientId) !== e || e.role !== 'primary') throw new ClientMovedError(e.clientId)
      return write()
    })
  }

  // ---- operations on the primary ----

  private async create(e: ClientEntry, data: unknown, ttlMs: number | undefined): Promise<{ sessionId: string; version: number }> {
    if (checkValue(data, this.limits, 'session data')) data = jsonValue(data)
    const sessionId = this.randomId()
    const ttl = ttlMs ?? this.ctx.defaultTtlMs ?? 30 * 60_000
    const rec: SessionRecord = { sessionId, clientId: e.clientId, vs: e.vs, obj: applyChange(sessionId, undefined, { kind: 'put', value: data }, 1)!, ttlMs: ttl, expiresAt: this.ctx.clock.now() + ttl }
    await this.replication.replicate(e, [rec], [])
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
    const dirty = checkPatches(patches, this.limits)
    const change = normalizeChange({ kind: 'patch', patches }, dirty)
    if (ifVersion !== undefined) checkCas(sessionId, rec.obj, change, ifVersion)
    const version = rec.obj.version + 1
    const next: SessionRecord = { ...rec, obj: applyChange(sessionId, rec.obj, change, version) as StoredObject, expiresAt: this.ctx.clock.now() + rec.ttlMs }
    await this.replication.replicate(e, [next], [])
    this.table.put(next)
    return { version }
  }

  private async destroy(e: ClientEntry, sessionId: string): Promise<{ destroyed: true }> {
    this.owned(e, sessionId)
    await this.replication.replicate(e, [], [sessionId])
    this.table.delete(e.vs, sessionId)
    return { destroyed: true }
  }

  private owned(e: ClientEntry, sessionId: string): SessionRecord {
    const rec = this.table.get(e.vs, sessionId)
    if (!rec || rec.clientId !== e.clientId) throw new SessionNotFoundError(sessionId)
    return rec
  }

  // ---- who serves a client ----

  /** This node starts serving a client no node serves (its first request, or sessions left over: handoff.ts). */
  private newClient(vs: string, clientId: string, epoch = 1): ClientEntry {
    const e: ClientEntry = { clientId, vs, role: 'primary', primary: this.ctx.self, backups: this.replication.choose(clientId), epoch, sessions: new Set(), fresh: true, copy: { line: this.randomId(), rev: 0 } }
    this.table.setClient(e)
    return e
  }

  /**
   * This node, a backup with a copy made under `from`, becomes the client's primary at the next
   * epoch. It must reach every other old backup the view shows up (so none of them can take over
   * too) and fill the backups up; if it cannot, it goes back to being a backup. Called under the
   * client's lock.
   */
  private async promote(vs: string, clientId: string, from: Authority): Promise<ClientEntry> {
    const old = this.table.client(vs, clientId)
    if (old?.role === 'primary') return old // an earlier request in the queue promoted us already
    if (!old || compareAuthority(old, from) !== 0) throw new ClientMovedError(clientId) // our copy changed while we waited
    // Our copy may belong to a line of primaries that lost (a takeover that failed half way): if
    // any up node knows a newer primary than ours, that one rules, and we hand it what we hold.
    // The old primary is being replaced because it cannot be reached; every other up node must
    // answer, since one we cannot hear from may hold the newer line.
    const probe = await this.replication.newerLine(vs, clientId, from, from.primary)
    // The probe can take long (its timeout for a silent node, longer if this node is paused):
    // meanwhile our copy may have been dropped and replaced by another of the same authority (the
    // old primary came back empty and started the client again, as a new line). Taking over from
    // `old` now would serve the client with the sessions of the copy we dropped and send the
    // backups a whole copy without those of the one we hold. The next view or sweep decides anew.
    if (this.table.client(vs, clientId) !== old) throw new ClientMovedError(clientId)
    if (probe.holder) {
      this.handoffs.handOver(vs, clientId, this.table.sessionsOf(vs, clientId), probe.holder, probe.epoch)
      if (this.table.client(vs, clientId) === old) this.table.dropClient(vs, clientId)
      throw new ClientMovedError(clientId)
    }
    if (probe.answered < probe.asked) throw new NotEnoughReplicasError(clientId, probe.asked, probe.answered)
    // Another copy of this same line may have got further than ours: ours may be a late copy the
    // primary sent before it replaced us with other backups and wrote on to them (we were paused,
    // say, and our view still shows the primary down). Taking over from ours would write it over
    // their newer one. The copy that got furthest takes over instead; if the primary's backups in
    // that copy no longer include us, ours is stale for good and goes.
    const mine = old.copy
    const ahead = mine && furthest(probe.lines.filter((l) => compareAuthority(l, from) === 0 && l.copy?.line === mine.line && l.copy.rev > mine.rev))
    if (ahead) {
      if (!ahead.backups.includes(this.ctx.self) && this.table.client(vs, clientId) === old) this.table.dropClient(vs, clientId)
      throw new ClientMovedError(clientId)
    }
    const fence = from.backups.filter((b) => b !== this.ctx.self)
    const e: ClientEntry = { clientId, vs, role: 'primary', primary: this.ctx.self, backups: [], epoch: from.epoch + 1, sessions: old.sessions, ...(old.seen ? { seen: old.seen } : {}), copy: { line: this.randomId(), rev: 0 } }
    this.table.setClient(e)
    try {
      await this.replication.rebuild(e, fence, true)
      return e
    } catch (err) {
      if (this.table.client(vs, clientId) === e) this.table.setClient(old)
      throw err
    }
  }

  private randomId(): string {
    const bytes = new Uint8Array(12)
    const filled = this.ctx.randomBytes ? this.ctx.randomBytes(bytes) : crypto.getRandomValues(bytes)
    return Array.from(filled, (b) => b.toString(16).padStart(2, '0')).join('')
  }

  private sweep(): void {
    this.sweeper = this.ctx.clock.setTimeout(() => {
      this.table.sweep()
      // Repairs that failed on a view (too few nodes reachable then) are tried again.
      void this.onView(true)
      this.sweep()
    }, 1000)
  }
}

/** Of copies of one line, the one that got furthest (highest `rev`), if any. */
function furthest(lines: Line[]): Line | undefined {
  return lines.reduce<Line | undefined>((best, l) => (!best || (l.copy?.rev ?? 0) > (best.copy?.rev ?? 0) ? l : best), undefined)
}

/** Adds `e` to the list kept under `key` (runs for every client on every sweep: no copying). */
function group(m: Map<NodeId, ClientEntry[]>, key: NodeId, e: ClientEntry): void {
  const list = m.get(key)
  if (list) list.push(e)
  else m.set(key, [e])
}
