/**
 * Colocated session backups: one set of backups per client holds every session of the client, so
 * one node can take all of them over. A write is on every backup before its caller hears of it.
 * A backup that the view shows down is replaced, and the replacement gets the client's whole
 * state; one that is up but cannot be reached is waited for, never replaced, so a primary cut off
 * from its backups cannot go on alone. The epoch rises only when a backup takes over. Backups
 * refuse writes from a primary older than the one they follow (epoch, then id), which is how a
 * replaced primary learns it must step down.
 */
import * as v from '../util/schema.js'
import type { NodeId } from '../ids.js'
import { applyChange } from '../objects/objects.js'
import { sleep, type Clock } from '../util/clock.js'
import { hash32 } from '../util/hash.js'
import { isUnreachable, type DomainMeshError } from '../errors.js'
import { compareAuthority, compareToken, type Authority, type TokenMark } from './route.js'
import { NotEnoughReplicasError, ClientMovedError, CopyMissingError, StaleClientEpochError } from './errors.js'
import type { ClientEntry, CopyMark, SessionRecord, SessionTable } from './table.js'

export interface ReplicationContext {
  self: NodeId
  clock: Clock
  /** Copies of each client's sessions, primary included. */
  replicas: () => number
  /** Other members with a session engine that the view shows up. */
  upNodes: () => NodeId[]
  /** Of those, the ones we can reach now. */
  liveNodes: () => NodeId[]
  request: (to: NodeId, method: string, body: unknown, timeoutMs?: number) => Promise<unknown>
  /** How long a write waits for enough reachable backups before it fails (default 3 s). */
  placeTimeoutMs?: number
}

/**
 * Told when this node stops serving a client it served (a backup refused it, or a newer primary
 * made it a backup) while holding sessions the newer primary `to`, at `epoch`, may not have.
 */
export type OnDeposed = (vs: string, clientId: string, sessions: SessionRecord[], to: NodeId, epoch: number) => void

const Vs = v.pipe(v.string(), v.minLength(1), v.maxLength(128))
const Sid = v.pipe(v.string(), v.minLength(1), v.maxLength(64))
export const RecordSchema = v.object({ sessionId: Sid, clientId: v.string(), vs: Vs, value: v.unknown(), version: v.number(), ttlMs: v.number(), expiresAt: v.number() })
/** The newest token the client has sent: a backup that takes over refuses requests with older ones. */
const SeenSchema = v.object({ primary: v.string(), epoch: v.number(), seq: v.number() })
const CopySchema = v.object({ line: v.pipe(v.string(), v.maxLength(64)), rev: v.number() })
export const ReplicateSchema = v.object({ vs: Vs, clientId: v.string(), epoch: v.number(), backups: v.array(v.string()), full: v.boolean(), put: v.array(RecordSchema), remove: v.array(Sid), seen: v.optional(SeenSchema), copy: v.optional(CopySchema) })
type ReplicateBody = v.InferOutput<typeof ReplicateSchema>
export type WireRecord = v.InferOutput<typeof RecordSchema>
/** A client's line of primaries as node `at` knows it, and how far `at`'s copy of it has got. */
export interface Line {
  at: NodeId
  primary: NodeId
  epoch: number
  /** The backups that the last replicate `at` applied named (the primary's own, if `at` leads). */
  backups: NodeId[]
  copy?: CopyMark
}

/** What a node answers when asked which line it follows for a client (nothing if it holds no copy). */
export function probeAnswer(e: ClientEntry | undefined): { primary?: NodeId; epoch?: number; backups?: NodeId[]; copy?: CopyMark } {
  return e ? { primary: e.primary, epoch: e.epoch, backups: e.backups, ...(e.copy ? { copy: e.copy } : {}) } : {}
}

/**
 * A lost answer must not hold a write for the messenger's default 10 s: the write is retried
 * (the same records again, which a backup that has them takes as a no-op) until its deadline.
 */
const REPLICATE_TIMEOUT_MS = 1000


export class SessionReplication {
  constructor(
    private readonly ctx: ReplicationContext,
    private readonly table: SessionTable,
    private readonly onDeposed: OnDeposed,
  ) {}

  /** Backups a client should have: `replicas - 1`, fewer only when the view has fewer members up. */
  wanted(): number {
    return Math.max(0, Math.min(this.ctx.replicas() - 1, this.ctx.upNodes().length))
  }

  /** Reachable nodes ranked by a hash of the client id, keeping `prefer` first. */
  choose(clientId: string, prefer: readonly NodeId[] = []): NodeId[] {
    const live = this.ctx.liveNodes()
    const rest = live.filter((n) => !prefer.includes(n)).sort((a, b) => hash32(`${clientId}:${b}`) - hash32(`${clientId}:${a}`))
    return [...prefer.filter((n) => live.includes(n)), ...rest].slice(0, this.wanted())
  }

  /**
   * Backups that the view shows up are kept first; the set is filled up to `wanted`; all get the
   * whole state. `probed`: the caller has just made sure no newer line exists (a takeover).
   */
  async rebuild(e: ClientEntry, keep: readonly NodeId[] = e.backups, probed = false): Promise<void> {
    const up = new Set(this.ctx.upNodes())
    const kept = keep.filter((b) => up.has(b))
    e.backups = [...kept, ...this.choose(e.clientId, kept).filter((b) => !kept.includes(b))].slice(0, Math.max(this.wanted(), kept.length))
    await this.replicate(e, [], [], true, probed)
  }

  /**
   * Puts the change on every backup. A backup the view shows down is replaced (whole state to the
   * new one); one that is up but unreachable is retried until the deadline, then the write fails.
   * Before any whole state goes out, every up node is asked whether it follows a newer primary:
   * a backup that restarted, or a new one, cannot tell this node that it was replaced while it
   * was cut off, but the newer line's own copies can.
   */
  async replicate(e: ClientEntry, put: SessionRecord[], remove: string[], full = false, probed = false): Promise<void> {
    const deadline = this.ctx.clock.now() + (this.ctx.placeTimeoutMs ?? 3000)
    full = full || e.dirty === true || e.fresh === true
    probed = probed || e.fresh === true
    let targets = e.backups
    for (;;) {
      this.stillPrimary(e)
      e.dirty = true
      let failed: NodeId[] = targets
      if (!full || probed || (probed = await this.newestHere(e))) {
        const sent = await this.send(e, targets, put, remove, full)
        failed = sent.failed
        full = full || sent.copyMissing
      }
      // A newer primary may have made this node its backup while the write was out: the caller
      // must not then put this (older) record over the copy the new line sent.
      this.stillPrimary(e)
      if (failed.length === 0 && e.backups.length >= this.wanted()) {
        e.dirty = false
        e.fresh = false
        return
      }
      if (this.ctx.clock.now() >= deadline) throw new NotEnoughReplicasError(e.clientId, this.wanted(), e.backups.length - failed.length)
      await sleep(this.ctx.clock, 100)
      const up = new Set(this.ctx.upNodes())
      const kept = e.backups.filter((b) => up.has(b))
      const added = this.choose(e.clientId, kept).filter((b) => !kept.includes(b)).slice(0, Math.max(0, this.wanted() - kept.length))
      const changed = added.length > 0 || kept.length !== e.backups.length
      e.backups = [...kept, ...added]
      // Retry the ones that failed; if the set changed, everyone gets the whole state and the new list.
      full = full || changed
      targets = full ? e.backups : failed.filter((b) => up.has(b))
    }
  }

  /**
   * Asks every up node but `skip` which line (primary and epoch) it follows for the client.
   * `answered` below `asked` means some node did not answer, and it may hold a newer line.
   */
  async lines(vs: string, clientId: string, skip?: NodeId): Promise<{ lines: Line[]; asked: number; answered: number }> {
    const asked = this.ctx.upNodes().filter((n) => n !== skip)
    const answers = await Promise.allSettled(asked.map((n) => this.ctx.request(n, 'probe', { vs, clientId }, 1000) as Promise<ReturnType<typeof probeAnswer>>))
    const lines: Line[] = []
    for (const [i, a] of answers.entries()) {
      if (a.status === 'fulfilled' && a.value.primary !== undefined && a.value.epoch !== undefined) lines.push({ at: asked[i]!, primary: a.value.primary, epoch: a.value.epoch, backups: a.value.backups ?? [], ...(a.value.copy ? { copy: a.value.copy } : {}) })
    }
    return { lines, asked: asked.length, answered: answers.filter((a) => a.status === 'fulfilled').length }
  }

  /** A node holding a line newer than `than` (our own id counts too: a copy made before we restarted may be newest). */
  async newerLine(vs: string, clientId: string, than: Pick<Authority, 'epoch' | 'primary'>, skip?: NodeId): Promise<{ holder?: NodeId; epoch: number; lines: Line[]; asked: number; answered: number }> {
    const r = await this.lines(vs, clientId, skip)
    const l = r.lines.find((l) => compareAuthority(l, than) > 0)
    return { holder: l?.at, epoch: l?.epoch ?? than.epoch, ...r }
  }

  /** False while not every up node answered; steps down (throws) if one follows a newer primary. */
  private async newestHere(e: ClientEntry): Promise<boolean> {
    const r = await this.newerLine(e.vs, e.clientId, e)
    this.stillPrimary(e)
    if (r.holder) this.stepDown(e, r.holder, r.epoch)
    return r.answered === r.asked
  }

  /** This node no longer serves the client: its sessions go to the newer line, it only forwards. */
  private stepDown(e: ClientEntry, to: NodeId, epoch: number): never {
    if (this.table.client(e.vs, e.clientId) === e) {
      this.onDeposed(e.vs, e.clientId, this.table.sessionsOf(e.vs, e.clientId), to, epoch)
      this.table.dropClient(e.vs, e.clientId)
    }
    e.role = 'backup'
    throw new ClientMovedError(e.clientId)
  }

  private stillPrimary(e: ClientEntry): void {
    if (this.table.client(e.vs, e.clientId) !== e || e.role !== 'primary') throw new ClientMovedError(e.clientId)
  }

  /** Sends to every backup; returns the ones that could not be reached or lack the copy. */
  private async send(e: ClientEntry, targets: readonly NodeId[], put: SessionRecord[], remove: string[], full: boolean): Promise<{ failed: NodeId[]; copyMissing: boolean }> {
    if (e.copy) e.copy.rev++
    const body: ReplicateBody = { vs: e.vs, clientId: e.clientId, epoch: e.epoch, backups: e.backups, ...(e.copy ? { copy: { ...e.copy } } : {}), full, put: (full ? this.after(e, put, remove) : put).map(toWire), remove: full ? [] : remove, ...(e.seen ? { seen: { primary: e.seen.primary, epoch: e.seen.epoch, seq: e.seen.seq ?? 0 } } : {}) }
    const failed: NodeId[] = []
    let stale: unknown
    let copyMissing = false
    await Promise.all(
      targets.map((b) =>
        this.ctx.request(b, 'replicate', body, REPLICATE_TIMEOUT_MS).catch((err: unknown) => {
          const code = (err as DomainMeshError).code
          if (code === 'STALE_CLIENT_EPOCH') stale = err
          else if (code === 'COPY_MISSING') {
            copyMissing = true
            failed.push(b)
          } else if (isUnreachable(err)) failed.push(b)
          else throw err
        }),
      ),
    )
    // Another node took the client over; from now on this node only forwards.
    if (stale) {
      const { current } = (stale as DomainMeshError).details as { current: { primary: NodeId; epoch: number } }
      this.stepDown(e, current.primary, current.epoch)
    }
    return { failed, copyMissing }
  }

  /** The client's whole state as it will be after this change (for new or replaced backups). */
  private after(e: ClientEntry, put: SessionRecord[], remove: string[]): SessionRecord[] {
    const all = new Map(this.table.sessionsOf(e.vs, e.clientId).map((r) => [r.sessionId, r]))
    for (const r of put) all.set(r.sessionId, r)
    for (const id of remove) all.delete(id)
    return [...all.values()]
  }

  /** A backup receives a change (or the whole state) from the client's primary. */
  onReplicate(from: NodeId, b: ReplicateBody): { ok: true } {
    const old = this.table.client(b.vs, b.clientId)
    // Two nodes that took over at the same epoch (both from the same old primary, neither done,
    // since a finished takeover has fenced every other old backup): the higher id wins everywhere,
    // so exactly one of them completes. Epochs do not rise otherwise, so a stale primary never
    // gets here with an equal epoch.
    if (old && compareAuthority(old, { epoch: b.epoch, primary: from }) > 0) throw new StaleClientEpochError(b.clientId, from, b.epoch, old)
    // A change applies only to the copy it was made against; a node that restarted empty must not
    // turn into a backup from one change, or a primary replaced while cut off could go on with it.
    if (!b.full && !(old && old.primary === from && old.epoch === b.epoch)) throw new CopyMissingError(b.clientId, from)
    // A replicate the primary sent before one this copy has applied arrives late (it waited in a
    // paused node's inbox, or a retry overtook it): the primary has given up on it, and applied
    // now it would take back what the later ones wrote.
    if (old && old.primary === from && old.epoch === b.epoch && old.copy && b.copy && old.copy.line === b.copy.line && old.copy.rev > b.copy.rev) return { ok: true }
    // A new line of primaries takes this copy over (we served the client, or followed another
    // primary, perhaps one started by the same client's retried first request): the sessions it
    // does not send are handed to it rather than dropped, and it sends them back when it adopts.
    // The same primary at the same epoch is a new line too when the copy names another line: it
    // restarted empty and started the client again (a late first request reached it), so its
    // whole copy lacks every session of the line we followed, and ours may be the last copy.
    const newLine = old !== undefined && (old.primary !== from || (old.epoch === b.epoch && otherLine(old.copy, b.copy)))
    if (newLine) {
      const orphans = this.table.sessionsOf(b.vs, b.clientId).filter((r) => !b.put.some((p) => p.sessionId === r.sessionId))
      if (orphans.length > 0) this.onDeposed(b.vs, b.clientId, orphans, from, b.epoch)
    }
    const seen = [old?.seen, b.seen as TokenMark | undefined].reduce((x, y) => (!x || (y && compareToken(y, x) > 0) ? y : x), undefined)
    const e: ClientEntry = { clientId: b.clientId, vs: b.vs, role: 'backup', primary: from, backups: b.backups as NodeId[], epoch: b.epoch, sessions: old?.sessions ?? new Set(), ...(seen ? { seen } : {}), ...(b.copy ? { copy: { ...b.copy } } : {}) }
    this.table.setClient(e)
    if (b.full || newLine) for (const id of [...e.sessions]) if (!b.put.some((p) => p.sessionId === id)) this.table.delete(b.vs, id)
    for (const r of b.put) {
      // Concurrent changes may arrive out of order; within one primary a version never goes back.
      const cur = b.full ? undefined : this.table.get(b.vs, r.sessionId)
      if (cur && cur.obj.version > r.version) continue
      this.table.put(fromWire(r))
    }
    for (const id of b.remove) this.table.delete(b.vs, id)
    return { ok: true }
  }
}

/** Two copies made at the same primary and epoch belong to different lines (the primary restarted in between). */
export const otherLine = (x: CopyMark | undefined, y: CopyMark | undefined): boolean => x !== undefined && y !== undefined && x.line !== y.line

export const fromWire = (r: WireRecord): SessionRecord => ({ sessionId: r.sessionId, clientId: r.clientId, vs: r.vs, ttlMs: r.ttlMs, expiresAt: r.expiresAt, obj: applyChange(r.sessionId, undefined, { kind: 'put', value: r.value }, r.version)! })
export const toWire = (r: SessionRecord): WireRecord => ({ sessionId: r.sessionId, clientId: r.clientId, vs: r.vs, value: r.obj.value, version: r.obj.version, ttlMs: r.ttlMs, expiresAt: r.expiresAt })
