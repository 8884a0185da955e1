/**
 * Sessions that change line. Two nodes can each start a client when its first request reaches
 * both (a lost answer, then a retry elsewhere), and a takeover can meet a copy of another line.
 * The line that gives way hands its sessions to the one that stays (`handOver`, retried on every
 * sweep), which adopts those it lacks. A primary that lacks a session asks every node before it
 * says the session does not exist (`pull`): the session may still be on its way.
 */
import type { DomainMeshError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { compareAuthority } from './route.js'
import { ClientMovedError, NoLiveReplicaError, SessionUnconfirmedError } from './errors.js'
import { fromWire, toWire, type Line, type ReplicationContext, type SessionReplication, type WireRecord } from './replication.js'
import type { ClientEntry, SessionRecord, SessionTable } from './table.js'

const ADOPT_TIMEOUT_MS = 1000
/** Attempts (one per sweep, about a second apart) before a hand-over is given up and reported. */
const MAX_ATTEMPTS = 300

interface Pending {
  vs: string
  clientId: string
  to: NodeId
  /** The newest epoch of the lines these sessions were on or sent to: tokens the client holds are no newer. */
  epoch: number
  put: WireRecord[]
  attempts: number
}

export interface HandoffDeps {
  ctx: Pick<ReplicationContext, 'upNodes' | 'request'>
  table: SessionTable
  replication: SessionReplication
  /** Runs a change under the client's lock while this node still serves it. */
  locked: <T>(e: ClientEntry, write: () => Promise<T>) => Promise<T>
  /** Makes this node the client's primary at `epoch`, a new line (with new backups). */
  startLine: (vs: string, clientId: string, epoch: number) => ClientEntry
  report: (error: unknown) => void
  maxHops: number
}

export class SessionHandoffs {
  private readonly waiting = new Map<string, Pending>()

  constructor(private readonly d: HandoffDeps) {}

  /** Clients whose sessions wait here to be handed over. */
  get pending(): number {
    return this.waiting.size
  }

  /**
   * Queues `sessions` for `to`, the primary of the line that stays, and sends them now. Sessions
   * still waiting here for an earlier line go along: this node no longer holds them anywhere
   * else, and the line that now takes its copy over is the newest it knows.
   */
  handOver(vs: string, clientId: string, sessions: SessionRecord[], to: NodeId, epoch: number): void {
    if (sessions.length === 0) return
    const key = `${vs}\u0000${clientId}`
    const was = this.waiting.get(key)
    const put = new Map((was?.put ?? []).map((r) => [r.sessionId, r]))
    for (const r of sessions.map(toWire)) if ((put.get(r.sessionId)?.version ?? 0) <= r.version) put.set(r.sessionId, r)
    // A new object: a send of the old one still under way must not take this one off the list.
    this.waiting.set(key, { vs, clientId, to, epoch: Math.max(epoch, was?.epoch ?? 0), put: [...put.values()], attempts: 0 })
    void this.send(key).catch((error: unknown) => this.d.report(error))
  }

  /** Tries every waiting hand-over again (on each sweep). */
  retryAll(): Promise<void>[] {
    return [...this.waiting.keys()].map((key) => this.send(key))
  }

  private async send(key: string): Promise<void> {
    const h = this.waiting.get(key)
    if (!h) return
    try {
      // After a failed try the line may have moved on (its primary replaced, or restarted empty):
      // ask again who leads it now. If no node serves the client any more (the line's primary
      // restarted empty, and no copy of it is left), these sessions are the only copies: this
      // node starts a line for them, newer than any the client holds a token of, or they would
      // wait here until given up.
      if (h.attempts > 0) {
        const line = await this.locate(h.vs, h.clientId)
        if (line) {
          h.to = line.at
          h.epoch = Math.max(h.epoch, line.epoch)
        } else if (line === null && !this.d.table.client(h.vs, h.clientId)) this.d.startLine(h.vs, h.clientId, h.epoch + 1)
      }
      // The line may have come back to this very node since: then it adopts them itself.
      if (this.d.table.client(h.vs, h.clientId)?.role === 'primary') await this.adopt(h.vs, h.clientId, h.put, this.d.maxHops)
      else await this.d.ctx.request(h.to, 'adopt', { vs: h.vs, clientId: h.clientId, put: h.put }, ADOPT_TIMEOUT_MS)
      if (this.waiting.get(key) === h) this.waiting.delete(key)
    } catch (err) {
      if (++h.attempts >= MAX_ATTEMPTS) {
        if (this.waiting.get(key) === h) this.waiting.delete(key)
        this.d.report(new NoLiveReplicaError(h.clientId, [h.to]))
      }
      throw err
    }
  }

  /**
   * The node to give a client's sessions to: the one holding the newest line (epoch, then primary
   * id) that any node, this one included, knows of; a backup passes an adopt on to its primary.
   * Null when every up node answered and none of them (nor this one) follows a line of the client.
   */
  private async locate(vs: string, clientId: string): Promise<Pick<Line, 'at' | 'primary' | 'epoch'> | null | undefined> {
    const own = this.d.table.client(vs, clientId)
    let best: Pick<Line, 'at' | 'primary' | 'epoch'> | undefined = own && { at: own.primary, primary: own.primary, epoch: own.epoch }
    const r = await this.d.replication.lines(vs, clientId)
    for (const line of r.lines) if (!best || compareAuthority(line, best) > 0) best = line
    return best ?? (r.answered === r.asked ? null : undefined)
  }

  /** Runs `op`; if the session is not here, pulls it from whoever holds it and runs `op` again. */
  async orPull(e: ClientEntry, sessionId: string | undefined, op: (e: ClientEntry) => Promise<unknown>): Promise<unknown> {
    try {
      return await op(e)
    } catch (err) {
      if ((err as DomainMeshError).code !== 'SESSION_NOT_FOUND' || !sessionId || !(await this.pull(e, sessionId))) throw err
      return op(e)
    }
  }

  /** Asks every up node for a copy and adopts the newest; "no such session" must be certain. */
  private async pull(e: ClientEntry, sessionId: string): Promise<boolean> {
    const answers = await Promise.allSettled(this.d.ctx.upNodes().map((n) => this.d.ctx.request(n, 'find', { vs: e.vs, clientId: e.clientId, sessionId }, ADOPT_TIMEOUT_MS) as Promise<{ record?: WireRecord }>))
    const mine = this.find(e.vs, e.clientId, sessionId).record // waiting here to be handed over
    const found = [...(mine ? [mine] : []), ...answers.flatMap((a) => (a.status === 'fulfilled' && a.value.record ? [a.value.record] : []))].sort((a, b) => b.version - a.version)[0]
    const silent = answers.filter((a) => a.status === 'rejected').length
    if (!found && silent > 0) throw new SessionUnconfirmedError(sessionId, silent, answers.length)
    if (!found) return false
    await this.adopt(e.vs, e.clientId, [found], this.d.maxHops)
    return true
  }

  /** A copy of the session held here, or waiting here to be handed over. */
  find(vs: string, clientId: string, sessionId: string): { record?: WireRecord } {
    const rec = this.d.table.get(vs, sessionId)
    if (rec && rec.clientId === clientId) return { record: toWire(rec) }
    const waiting = this.waiting.get(`${vs}\u0000${clientId}`)?.put.find((r) => r.sessionId === sessionId)
    return waiting ? { record: waiting } : {}
  }

  /**
   * The primary takes the sessions it lacks, and newer versions of those it holds, onto its
   * backups (its own copy wins a tie). A copy it holds may itself have come in an earlier
   * hand-over, from a backup that got only a late first copy of the session (it was paused): the
   * acknowledged writes since then reach it only in a later hand-over, which must not lose to it.
   */
  async adopt(vs: string, clientId: string, put: WireRecord[], hops: number): Promise<{ adopted: number }> {
    const e = this.d.table.client(vs, clientId)
    if (e && e.role !== 'primary' && hops < this.d.maxHops) return this.d.ctx.request(e.primary, 'adopt', { vs, clientId, put, hops: hops + 1 }, ADOPT_TIMEOUT_MS) as Promise<{ adopted: number }>
    if (!e || e.role !== 'primary') throw new ClientMovedError(clientId)
    return this.d.locked(e, async () => {
      const newer = put.filter((r) => (this.d.table.get(vs, r.sessionId)?.obj.version ?? 0) < r.version).map(fromWire)
      if (newer.length > 0) await this.d.replication.replicate(e, newer, [])
      for (const r of newer) this.d.table.put(r)
      return { adopted: newer.length }
    })
  }
}
