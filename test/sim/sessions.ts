/**
 * Session clients inside the simulation. Each client runs on a node, keeps one session and calls
 * it one operation at a time, like a browser tab would; when its node crashes, the client moves to
 * another node with the token it last received (as a page that kept its token would). Every call
 * goes into a per-session history that the linearizability checker reads, so a session that lost
 * an acknowledged write, or vanished, fails the seed.
 */
import { virtualServerId, type NodeId } from '../../src/ids.js'
import type { DomainMeshError } from '../../src/errors.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import type { SessionClient } from '../../src/session/client.js'
import type { FailoverToken } from '../../src/session/token.js'
import { compareAuthority } from '../../src/session/route.js'
import type { Random } from '../../src/util/random.js'
import type { ServiceCluster } from '../helpers/service-cluster.js'
import type { Op } from './linearizability.js'

const VS = virtualServerId('sim-sessions')
/** What a read returns when the session is gone: no write ever wrote it, so the checker flags it. */
const LOST = '<session lost>'

interface SimClient {
  name: string
  host: NodeId
  /** The node process the client runs in: a restarted node is a new process, and the client died with the old one. */
  node: MeshNode
  client: SessionClient
  sessionId: string | undefined
  busy: boolean
  /**
   * The token the client held when its process died. The sim cannot stop the dead process's
   * promises, so its client object may still take in answers that the page never saw.
   */
  tokenAtDeath?: FailoverToken | undefined
}

export interface SessionSimStats {
  sessionOps: number
  sessionAcked: number
  crashesDeferred: number
}

export class SimSessions {
  readonly histories = new Map<string, Op[]>()
  readonly stats: SessionSimStats = { sessionOps: 0, sessionAcked: 0, crashesDeferred: 0 }
  /** Final reads that did not answer: after healing, every session must be readable. */
  readonly failures: string[] = []
  private readonly clients: SimClient[] = []
  /** Clients of earlier generations were lost with the whole cluster (sessions live in memory only). */
  private generation = 1

  constructor(
    private readonly c: ServiceCluster,
    private readonly rnd: Random,
    private readonly nextOpId: () => number,
    private readonly track: (p: Promise<unknown>) => void,
    private readonly trace: (msg: string) => void,
    /** The logical time of an invocation or a response (ticks: no two are equal). */
    private readonly time: () => number,
  ) {}

  /** Starts `n` clients on random live nodes. */
  start(n: number, live: NodeId[]): void {
    for (let i = 1; i <= n; i++) {
      const host = live[Math.floor(this.rnd() * live.length)]!
      const node = this.c.nodes.get(host)!
      const name = this.generation === 1 ? `client${i}` : `g${this.generation}.client${i}`
      this.clients.push({ name, host, node, client: node.sessions({ virtualServer: VS, clientId: name }), sessionId: undefined, busy: false })
    }
  }

  /**
   * Every node died at once: sessions live in memory only, so every one of them is gone, by
   * design. Their histories up to now are still checked; new clients start once the cluster is back.
   */
  retire(): void {
    this.clients.length = 0
    this.generation++
  }

  get count(): number {
    return this.clients.length
  }

  /** One call from a random idle client: create its session if it has none, else patch, update or read. */
  step(live: NodeId[], value: string): void {
    const idle = this.clients.filter((cl) => !cl.busy)
    if (idle.length === 0 || live.length === 0) return
    const cl = idle[Math.floor(this.rnd() * idle.length)]!
    this.rehost(cl, live)
    const kinds = ['patch', 'patch', 'update', 'read', 'read'] as const
    const kind = cl.sessionId === undefined ? 'create' : kinds[Math.floor(this.rnd() * kinds.length)]!
    this.call(cl, kind, value)
  }

  /** After the storm: every client reads its session once more, and that read must answer. */
  finalReads(live: NodeId[]): void {
    for (const cl of this.clients) {
      if (cl.sessionId === undefined) continue
      if (cl.busy) {
        this.failures.push(`session ${cl.name}/${cl.sessionId}: a call was still pending after healing`)
        continue
      }
      this.rehost(cl, live)
      this.call(cl, 'read', '', true)
    }
  }

  /**
   * True when every client's sessions have a primary and all the backups they should have, each
   * at the primary's epoch and versions. Memory-only copies survive `replicas - 1` failures at a
   * time only if the cluster gets to re-copy in between; the simulation crashes a node only then.
   */
  replicated(replicas: number): boolean {
    const nodes = [...this.c.nodes.values()]
    const wanted = Math.min(replicas - 1, nodes.length - 1)
    // Sessions on their way to another line are a single copy until it adopts them.
    if (nodes.some((n) => n.sessionHandoffsPending > 0)) return false
    for (const cl of this.clients) {
      if (cl.sessionId === undefined) continue
      // The newest authority any copy follows must be held by its primary: a stale primary with
      // whole backups does not count while a newer line's copies wait for a takeover.
      const holders = nodes.filter((n) => n.sessionTable?.client(VS, cl.name))
      const newest = holders.map((n) => n.sessionTable!.client(VS, cl.name)!).sort((x, y) => compareAuthority(y, x))[0]
      const lead = holders.find((n) => {
        const e = n.sessionTable!.client(VS, cl.name)!
        return e.role === 'primary' && newest && compareAuthority(e, newest) === 0
      })
      if (!lead || !this.whole(lead, cl.name, wanted)) return false
      // A retried first request may have started a second line that never met the first: the
      // client's own session counts as copied only on a line whose primary and backups hold it
      // (its backups alone, with the primary gone, are one failure from losing it).
      const line = holders.find((n) => {
        const e = n.sessionTable!.client(VS, cl.name)!
        return e.role === 'primary' && e.sessions.has(cl.sessionId!)
      })
      if (!line || !this.whole(line, cl.name, wanted)) return false
    }
    return true
  }

  /** The client's primary on `lead` has `wanted` backups, each at its epoch and versions. */
  private whole(lead: MeshNode, client: string, wanted: number): boolean {
    const e = lead.sessionTable!.client(VS, client)!
    if (e.backups.length !== wanted) return false
    for (const id of e.sessions) {
      const version = lead.sessionTable!.get(VS, id)?.obj.version
      for (const b of e.backups) {
        const copy = this.c.nodes.get(b)?.sessionTable
        const be = copy?.client(VS, client)
        if (!be || be.epoch !== e.epoch || be.primary !== lead.nodeId || copy!.get(VS, id)?.obj.version !== version) return false
      }
    }
    return true
  }

  /** Who holds what, for a failure message. */
  describe(): string {
    const out: string[] = []
    for (const cl of this.clients) {
      if (cl.sessionId === undefined) continue
      for (const n of this.c.nodes.values()) {
        const e = n.sessionTable?.client(VS, cl.name)
        if (e) out.push(`${cl.name} on ${n.nodeId}: ${e.role} of ${e.primary} @${e.epoch} backups [${e.backups.join(', ')}] ${[...e.sessions].map((id) => `${id.slice(0, 4)}v${n.sessionTable!.get(VS, id)?.obj.version}`).join(' ')}${e.dirty ? ' dirty' : ''}`)
      }
    }
    return out.join('\n')
  }

  private rehost(cl: SimClient, live: NodeId[]): void {
    if (this.c.nodes.get(cl.host) === cl.node && live.includes(cl.host)) return
    const host = live[Math.floor(this.rnd() * live.length)]!
    this.trace(`${cl.name} moves from ${cl.host} to ${host}`)
    const token = cl.tokenAtDeath ?? cl.client.token
    cl.tokenAtDeath = undefined
    cl.host = host
    cl.node = this.c.nodes.get(host)!
    cl.client = cl.node.sessions({ virtualServer: VS, clientId: cl.name, ...(token ? { token } : {}) })
  }

  private call(cl: SimClient, kind: 'create' | 'patch' | 'update' | 'read', value: string, final = false): void {
    const op: Op = { id: this.nextOpId(), kind: kind === 'read' ? 'read' : 'write', value: kind === 'read' ? undefined : value, call: this.time(), ret: undefined }
    this.stats.sessionOps++
    cl.busy = true
    const client = cl.client
    const sid = cl.sessionId
    this.trace(`#${op.id} session ${kind} ${cl.name}/${sid ?? '-'} via ${cl.host} ${value}`)
    // A call made in a process that dies never comes back, so its outcome is unknown.
    let dead = false
    const died = this.c.died(cl.node).then(() => {
      dead = true
      if (cl.client === client) cl.tokenAtDeath = client.token
      throw new Error(`the client's process (${cl.host}) died`)
    })
    const call = async () => {
      if (kind === 'create') {
        const id = await client.create({ v: value })
        // An answer that arrives after the process died reaches no one: the page never learns
        // of the session (its create is of unknown outcome, and left out of every history).
        if (dead) return
        cl.sessionId = id
        this.histories.set(cl.sessionId, [])
      } else if (kind === 'read') op.value = (await client.get<{ v: string }>(sid!)).v
      else if (kind === 'patch') await client.patch(sid!, [{ op: 'replace', path: ['v'], value }])
      else await client.update<{ v: string }>(sid!, (d) => void (d.v = value), 3)
    }
    const run = async () => {
      try {
        await Promise.race([call(), died])
        op.ret = this.time()
        if (kind !== 'read') this.stats.sessionAcked++
        this.trace(`#${op.id} session ${kind} ${cl.name} ok${kind === 'read' ? ` -> ${op.value}` : ''}`)
      } catch (err) {
        this.trace(`#${op.id} session ${kind} ${cl.name} failed: ${(err as Error).message}`)
        if (kind === 'create') return // no session id: nothing to check against
        if (kind === 'read') {
          if ((err as DomainMeshError).code !== 'SESSION_NOT_FOUND') {
            if (final) this.failures.push(`session ${cl.name}/${sid}: the final read failed: ${(err as Error).message}`)
            return // a failed read during the storm tells nothing
          }
          op.value = LOST
          op.ret = this.time()
        }
      } finally {
        cl.busy = false
      }
      this.histories.get(cl.sessionId!)!.push(op)
    }
    this.track(run())
  }
}
