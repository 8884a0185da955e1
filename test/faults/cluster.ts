/**
 * The fault test's cluster: the topology service and the peers as separate processes, each with
 * its own handle and data folder, and the ledger their writers report into.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { check, getJson, includes, Ledger, readFinal, type CheckResult, type KeyFinal } from './ledger.js'
import { spawnFaultPeer, spawnFaultTab, spawnTopology, type ChildHandle } from './processes.js'
import type { WriterEvent } from './writer.js'
import { freePort } from '../helpers/processes.js'

const SECRET = 'faults-secret-0123'
export const VS = 'faults'
/** Writer seqs of a peer's n-th process start at n × this, so they only grow across restarts. */
const GENERATION = 10_000_000

export interface ClusterOptions {
  peers: number
  replicas: number
  domains: number
  healDelayMs: number
  heartbeatMs: number
  writersPerPeer: number
  keysPerWriter: number
  /** Tabs (tab.ts: ephemeral members) open from the start; tab churn closes and opens more. */
  tabs?: number
  log: (line: string) => void
}

interface Peer {
  handle: ChildHandle
  metricsUrl: string
  /** An ephemeral member (a tab): never restarted; closing it ends it for good. */
  tab: boolean
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class FaultCluster {
  readonly ledger = new Ledger()
  readonly names: string[]
  /** Things that went wrong with the harness's own steps (a restart that never came up...). */
  readonly failures: string[] = []
  private topology: ChildHandle | undefined
  private readonly peers = new Map<string, Peer>()
  /** Every process ever started, so that close() stops each by its handle. */
  private readonly handles = new Set<ChildHandle>()
  private readonly generations = new Map<string, number>()
  private readonly reads = new Map<number, (m: Record<string, unknown>) => void>()
  private readonly stopped = new Map<ChildHandle, () => void>()
  private nextRead = 1
  private nextTab = 1
  private writing = false
  private closed = false

  private constructor(
    readonly opts: ClusterOptions,
    readonly dir: string,
    readonly port: number,
  ) {
    this.names = Array.from({ length: opts.peers }, (_, i) => `p${i + 1}`)
  }

  static async start(opts: ClusterOptions): Promise<FaultCluster> {
    const c = new FaultCluster(opts, await mkdtemp(join(tmpdir(), 'dm-faults-')), await freePort())
    try {
      await c.startTopology()
      await Promise.all(c.names.map((n) => c.startPeer(n)))
      for (let i = 0; i < (opts.tabs ?? 0); i++) await c.openTab()
    } catch (err) {
      await c.close()
      throw err
    }
    return c
  }

  get topologyUrl(): string {
    return `ws://127.0.0.1:${this.port}`
  }

  /** Every member process running now: the durable peers and the open tabs. */
  alive(): string[] {
    return [...this.peers.entries()].filter(([, p]) => p.handle.alive).map(([n]) => n)
  }

  /** The durable peers running now (the ones kill-primary, pause and kill-all act on). */
  aliveDurable(): string[] {
    return this.names.filter((n) => this.peers.get(n)?.handle.alive)
  }

  /** The open tabs. */
  tabs(): string[] {
    return [...this.peers.entries()].filter(([, p]) => p.tab && p.handle.alive).map(([n]) => n)
  }

  async startTopology(): Promise<void> {
    const h = spawnTopology(this.port, { secret: SECRET, replicas: this.opts.replicas, domains: this.opts.domains, healDelayMs: this.opts.healDelayMs, heartbeatMs: this.opts.heartbeatMs, stateFile: join(this.dir, 'topology-state.json') })
    this.handles.add(h)
    this.topology = h
    await h.ready(/listening on ws:/, 30_000)
  }

  async killTopology(): Promise<void> {
    await this.topology?.kill()
  }

  /** Starts (or restarts, on the same data folder and id) a peer; its writers resume if writing. */
  async startPeer(name: string): Promise<void> {
    const gen = (this.generations.get(name) ?? 0) + 1
    this.generations.set(name, gen)
    const handle = spawnFaultPeer(name, join(this.dir, name), this.topologyUrl, SECRET, (m) => this.onMessage(handle, m))
    this.handles.add(handle)
    this.peers.set(name, { handle, metricsUrl: '', tab: false })
    const m = await handle.ready(/metrics at (http:\/\/[^/\s]+)\/metrics/, 30_000)
    this.peers.set(name, { handle, metricsUrl: m[1]!, tab: false })
    if (this.writing) this.startWritersOn(name)
  }

  /** Opens a new tab (a new id, holding nothing); its writers start if the test is writing. */
  async openTab(): Promise<string> {
    const name = `t${this.nextTab++}`
    this.generations.set(name, 1)
    const handle = spawnFaultTab(name, this.topologyUrl, SECRET, (m) => this.onMessage(handle, m))
    this.handles.add(handle)
    this.peers.set(name, { handle, metricsUrl: '', tab: true })
    try {
      const m = await handle.ready(/metrics at (http:\/\/[^/\s]+)\/metrics/, 30_000)
      this.peers.set(name, { handle, metricsUrl: m[1]!, tab: true })
    } catch (err) {
      this.failures.push(`opening tab ${name} failed: ${(err as Error).message.split('\n')[0]}`)
      await handle.kill()
      return name
    }
    if (this.writing) this.startWritersOn(name)
    return name
  }

  /** Closes a tab: `clean` as its user closing it (the node leaves), else kill -9 (a crashed tab). */
  async closeTab(name: string, clean: boolean): Promise<void> {
    const h = this.peers.get(name)?.handle
    if (!h?.alive) return
    if (!clean) return h.kill()
    h.send({ op: 'close' })
    // A tab that alone holds a domain hands it over first, for up to 15 s (MeshNode.close).
    const timer = sleep(30_000).then(() => 'timeout' as const)
    if ((await Promise.race([h.exited, timer])) === 'timeout') {
      this.failures.push(`tab ${name} still running 30 s after it was told to close`)
      await h.kill()
    }
  }

  /** A restart that fails is a finding, not the end of the schedule: the check says what it cost. */
  async restartPeer(name: string): Promise<void> {
    try {
      await this.startPeer(name)
    } catch (err) {
      this.failures.push(`restart of ${name} failed: ${(err as Error).message.split('\n')[0]}`)
      this.opts.log(`restart of ${name} failed: ${(err as Error).message}`)
    }
  }

  async restartTopology(): Promise<void> {
    try {
      await this.startTopology()
    } catch (err) {
      this.failures.push(`restart of the topology service failed: ${(err as Error).message.split('\n')[0]}`)
    }
  }

  async killPeer(name: string): Promise<void> {
    await this.peers.get(name)?.handle.kill()
  }

  /** kill -9, then its data folder is deleted: it comes back under its id on an empty disk. */
  async wipePeer(name: string): Promise<void> {
    await this.killPeer(name)
    await rm(join(this.dir, name), { recursive: true, force: true })
  }

  pausePeer(name: string): void {
    this.peers.get(name)?.handle.pause()
  }

  resumePeer(name: string): void {
    this.peers.get(name)?.handle.resume()
  }

  writers(name: string): string[] {
    return Array.from({ length: this.opts.writersPerPeer }, (_, i) => `${name}.w${i}`)
  }

  startWriting(): void {
    this.writing = true
    for (const n of this.alive()) this.startWritersOn(n)
  }

  private startWritersOn(name: string): void {
    this.peers.get(name)!.handle.send({ op: 'start', writers: this.writers(name), base: this.generations.get(name)! * GENERATION, keys: this.opts.keysPerWriter })
  }

  /** Stops every writer and waits until each has its last write answered. */
  async stopWriting(timeoutMs = 30_000): Promise<void> {
    this.writing = false
    await Promise.all(
      this.alive().map(async (n) => {
        const h = this.peers.get(n)!.handle
        const done = new Promise<void>((resolve) => this.stopped.set(h, resolve))
        h.send({ op: 'stop' })
        const timer = sleep(timeoutMs).then(() => 'timeout' as const)
        if ((await Promise.race([done, timer])) === 'timeout') this.failures.push(`${n}: writers still busy ${timeoutMs} ms after being told to stop`)
      }),
    )
  }

  private onMessage(h: ChildHandle, m: Record<string, unknown>): void {
    if (m.t === 'a' || m.t === 'e') this.ledger.record(m as unknown as WriterEvent)
    else if (m.t === 'r') this.reads.get(m.id as number)?.(m)
    else if (m.t === 'stopped') this.stopped.get(h)?.()
  }

  async metrics(name: string): Promise<{ domainsPrimary: number; domainsBackup: number; peers: string[] } | undefined> {
    const p = this.peers.get(name)
    if (!p?.handle.alive || p.handle.paused || !p.metricsUrl) return undefined
    // Only used to pick a fault's victim: a peer that cannot answer now is no candidate, and the
    // final settle and check report whatever is wrong with it.
    return getJson<{ domainsPrimary: number; domainsBackup: number; peers: string[] }>(`${p.metricsUrl}/metrics.json`).catch(() => undefined)
  }

  /** The members of the topology service's latest view, as it printed them (`p2(down)` when down). */
  topologyView(): string | undefined {
    const lines = this.topology?.output ?? []
    for (let i = lines.length - 1; i >= 0; i--) if (/^view \d+:/.test(lines[i]!)) return lines[i]
    return undefined
  }

  /**
   * Waits until every peer is up, safe (no domain short of copies, no healing), on one epoch and
   * linked to every other, and the service's view shows them all up. Undefined when it got
   * there; otherwise what it last saw.
   */
  async settle(timeoutMs: number): Promise<string | undefined> {
    const end = Date.now() + timeoutMs
    let seen = ''
    for (;;) {
      const lines: string[] = []
      const members = [...this.names, ...this.tabs()]
      let ok = this.aliveDurable().length === this.names.length
      const epochs = new Set<number>()
      for (const n of members) {
        const p = this.peers.get(n)
        if (!p?.handle.alive) {
          lines.push(`${n}: not running`)
          continue
        }
        try {
          const h = await getJson<{ safe: boolean; epoch: number; underReplicated: number[]; primaryOf: number; unavailable: number[] }>(`${p.metricsUrl}/health`)
          const m = await getJson<{ peers: string[] }>(`${p.metricsUrl}/metrics.json`)
          epochs.add(h.epoch)
          // A domain whose every owner is gone has no primary: nobody leads it, so no node's
          // `safe` covers it; the check would only see its reads fail.
          if (!h.safe || h.unavailable.length > 0 || m.peers.length !== members.length - 1) ok = false
          lines.push(`${n}: epoch ${h.epoch} safe ${h.safe} leads ${h.primaryOf} under-replicated ${h.underReplicated.length} without primary [${h.unavailable.join(',')}] links ${m.peers.length}`)
        } catch (err) {
          ok = false
          lines.push(`${n}: ${(err as Error).message}`)
        }
      }
      const view = this.topologyView() ?? '(no view printed)'
      const up = members.every((n) => new RegExp(`(^|\\s)${n}(\\s|$)`).test(view.replace(/^view \d+:/, '')))
      seen = `topology ${view}; ${lines.join('; ')}`
      if (ok && epochs.size === 1 && up) return undefined
      if (Date.now() > end) return seen
      await sleep(250)
    }
  }

  /**
   * Right after a peer comes back (SIGCONT, or a restart), primary reads through it of keys with
   * acknowledged writes: an answer must hold every write acknowledged before the read was made.
   * A primary that resumed believing it still leads, or a node answering from a lagging copy,
   * fails here, while the final check (made once everything has caught up) could not see it.
   * Errors are allowed (a read may be refused while the view settles); wrong answers are not.
   */
  async probeReads(name: string, since?: ReadonlyMap<string, number>, count = 32, only: (key: string) => boolean = () => true): Promise<number> {
    // Keys written while the peer was away first: those are the ones a stale copy lacks.
    const all = [...this.ledger.keys.values()].filter((r) => r.acked.length > 0 && only(r.key))
    const grew = (r: { key: string; acked: number[] }) => r.acked.length > (since?.get(r.key) ?? 0)
    const keys = [...all.filter(grew), ...all.filter((r) => !grew(r))].slice(0, count)
    let checked = 0
    await Promise.all(
      keys.map(async (r) => {
        const before = [...r.acked]
        const m = await this.read(name, r.key)
        if (typeof m.code === 'string') return
        checked++
        if (m.found !== true) return void this.ledger.staleReads.push(`${r.key}: read through ${name} just after it came back answered absent (${before.length} acked writes)`)
        const missing = before.filter((seq) => !includes(r.kind, m.value, seq))
        if (missing.length > 0) this.ledger.staleReads.push(`${r.key}: read through ${name} just after it came back missed ${missing.length} acknowledged writes (first ${missing.slice(0, 3).join(', ')})`)
      }),
    )
    return checked
  }

  /** How many writes of each key are acknowledged now (for probeReads after a fault). */
  ackCounts(): Map<string, number> {
    return new Map([...this.ledger.keys.values()].map((r) => [r.key, r.acked.length]))
  }

  private read(name: string, key: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const id = this.nextRead++
    const p = this.peers.get(name)!
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.reads.delete(id)
        resolve({ code: 'HARNESS_TIMEOUT', message: `no answer from ${name} in ${timeoutMs} ms` })
      }, timeoutMs)
      this.reads.set(id, (m) => {
        clearTimeout(timer)
        this.reads.delete(id)
        resolve(m)
      })
      p.handle.send({ op: 'read', id, key })
    })
  }

  /**
   * One key's primary read (through the store API of a live peer, each time another one, retried
   * on errors until `deadline`) and every live peer's own copy.
   */
  private finalOf(key: string, i: number, deadline: number): Promise<KeyFinal> {
    return readFinal(key, i, { vs: VS, alive: this.alive(), read: (via, k) => this.read(via, k), metricsUrl: (n) => this.peers.get(n)!.metricsUrl, deadline })
  }

  async finals(deadline: number): Promise<Map<string, KeyFinal>> {
    const keys = [...this.ledger.keys.keys()].sort()
    const out = new Map<string, KeyFinal>()
    // Some at a time: each is a read through the mesh plus one HTTP request per peer.
    for (let i = 0; i < keys.length; i += 32) {
      const batch = keys.slice(i, i + 32)
      const fs = await Promise.all(batch.map((k, j) => this.finalOf(k, i + j, deadline)))
      batch.forEach((k, j) => out.set(k, fs[j]!))
    }
    return out
  }

  /**
   * The final check. Copies may still be converging just after the cluster settled, so replica
   * differences and failed reads are looked at again for up to `graceMs`; lost writes and
   * absent keys count the worst pass (a write missing once was missing to a reader).
   */
  async verify(graceMs = 20_000): Promise<CheckResult> {
    const end = Date.now() + graceMs
    let worst: CheckResult | undefined
    for (;;) {
      const r = check(this.ledger, await this.finals(end))
      if (worst && (worst.lost > r.lost || worst.absent > r.absent)) {
        r.lost = Math.max(r.lost, worst.lost)
        r.absent = Math.max(r.absent, worst.absent)
        r.findings = [...worst.findings.filter((f) => /missing from|read as absent/.test(f)), ...r.findings.filter((f) => !/missing from|read as absent/.test(f))]
      }
      worst = r
      if ((r.divergent === 0 && r.readErrors === 0) || Date.now() > end) return r
      await sleep(2000)
    }
  }

  /** Each peer's last output lines, for a failure report. */
  tails(lines = 15): string {
    const parts = [`--- topology\n${this.topology?.tail(lines) ?? ''}`]
    for (const [n, p] of this.peers) parts.push(`--- ${n}${p.tab ? ' (tab)' : ''}\n${p.handle.tail(lines)}`)
    return parts.join('\n')
  }

  /** Stops every process it started, by its handle (continuing paused ones first), then removes the data. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all([...this.handles].map((h) => h.kill()))
    await rm(this.dir, { recursive: true, force: true })
  }
}
