/**
 * The fault test's processes over etcd: a 3-member etcd cluster, topology instances (the CLI with
 * --etcd) and peers with writers (test/faults/peer.ts), each stopped by its own handle. The
 * ledger and its check are the fault test's (test/faults/ledger.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { check, getJson, Ledger, readFinal, type CheckResult, type KeyFinal } from '../faults/ledger.js'
import { ChildHandle, CLI, spawnFaultPeer } from '../faults/processes.js'
import type { WriterEvent } from '../faults/writer.js'
import { Etcd3 } from 'etcd3'
import { EtcdCluster } from './etcd-cluster.js'
import { freePort } from './processes.js'

const SECRET = 'etcd-faults-secret-01'
export const VS = 'faults'
const GENERATION = 10_000_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface EtcdFaultOptions {
  instances: number
  peers: number
  replicas: number
  domains: number
  healDelayMs: number
  heartbeatMs: number
  writersPerPeer: number
  keysPerWriter: number
}

interface Instance {
  port: number
  handle: ChildHandle | undefined
}

export class EtcdFaultCluster {
  readonly ledger = new Ledger()
  readonly names: string[]
  readonly instanceNames: string[]
  readonly failures: string[] = []
  etcd!: EtcdCluster
  private readonly instances = new Map<string, Instance>()
  private readonly peers = new Map<string, { handle: ChildHandle; metricsUrl: string }>()
  private readonly handles = new Set<ChildHandle>()
  private readonly generations = new Map<string, number>()
  private readonly reads = new Map<number, (m: Record<string, unknown>) => void>()
  private readonly stopped = new Map<ChildHandle, () => void>()
  private nextRead = 1
  private writing = false
  private closed = false

  private constructor(
    readonly opts: EtcdFaultOptions,
    readonly dir: string,
  ) {
    this.names = Array.from({ length: opts.peers }, (_, i) => `p${i + 1}`)
    this.instanceNames = Array.from({ length: opts.instances }, (_, i) => `t${i + 1}`)
  }

  static async start(opts: EtcdFaultOptions): Promise<EtcdFaultCluster> {
    const c = new EtcdFaultCluster(opts, await mkdtemp(join(tmpdir(), 'dm-etcd-faults-')))
    try {
      c.etcd = await EtcdCluster.start(3)
      for (const n of c.instanceNames) c.instances.set(n, { port: await freePort(), handle: undefined })
      await Promise.all(c.instanceNames.map((n) => c.startInstance(n)))
      await Promise.all(c.names.map((n) => c.startPeer(n)))
    } catch (err) {
      await c.close()
      throw err
    }
    return c
  }

  async startInstance(name: string): Promise<void> {
    const inst = this.instances.get(name)!
    const o = this.opts
    const args = [CLI, 'topology', '--port', String(inst.port), '--cluster', 'faults', '--replicas', String(o.replicas), '--domains', String(o.domains), '--heal-delay', String(o.healDelayMs), '--heartbeat', String(o.heartbeatMs), '--etcd', this.etcd.urls.join(',')]
    // All its lines: which instance leads is read from them.
    const h = new ChildHandle(name, args, { DOMAINMESH_SECRET: SECRET }, undefined, 100_000)
    this.handles.add(h)
    inst.handle = h
    await h.ready(/listening on ws:/, 30_000)
  }

  async killInstance(name: string): Promise<void> {
    await this.instances.get(name)!.handle?.kill()
  }

  /** What an instance printed (non-JSON lines, the last few hundred). */
  instanceOutput(name: string): string[] {
    return this.instances.get(name)!.handle?.output ?? []
  }

  /** The live instance that runs the service logic, as it printed it. */
  leaderInstance(): string | undefined {
    for (const [name, inst] of this.instances) {
      if (!inst.handle?.alive) continue
      const lines = inst.handle.output.filter((l) => /leads:|stopped leading/.test(l))
      if (lines.at(-1)?.includes('leads:')) return name
    }
    return undefined
  }

  /** Each peer lists every instance, starting from a different one, so they spread over them. */
  private urlsFor(i: number): string {
    const ports = this.instanceNames.map((n) => this.instances.get(n)!.port)
    return [...ports.slice(i % ports.length), ...ports.slice(0, i % ports.length)].map((p) => `ws://127.0.0.1:${p}`).join(',')
  }

  alive(): string[] {
    return this.names.filter((n) => this.peers.get(n)?.handle.alive)
  }

  async startPeer(name: string): Promise<void> {
    const gen = (this.generations.get(name) ?? 0) + 1
    this.generations.set(name, gen)
    const handle = spawnFaultPeer(name, join(this.dir, name), this.urlsFor(this.names.indexOf(name)), SECRET, (m) => this.onMessage(handle, m))
    // spawnFaultPeer joins cluster "faults", as the instances serve.
    this.handles.add(handle)
    this.peers.set(name, { handle, metricsUrl: '' })
    const m = await handle.ready(/metrics at (http:\/\/[^/\s]+)\/metrics/, 30_000)
    this.peers.set(name, { handle, metricsUrl: m[1]! })
    if (this.writing) this.startWritersOn(name)
  }

  async killPeer(name: string): Promise<void> {
    await this.peers.get(name)?.handle.kill()
  }

  startWriting(): void {
    this.writing = true
    for (const n of this.alive()) this.startWritersOn(n)
  }

  private startWritersOn(name: string): void {
    const writers = Array.from({ length: this.opts.writersPerPeer }, (_, i) => `${name}.w${i}`)
    this.peers.get(name)!.handle.send({ op: 'start', writers, base: this.generations.get(name)! * GENERATION, keys: this.opts.keysPerWriter })
  }

  async stopWriting(timeoutMs = 30_000): Promise<void> {
    this.writing = false
    await Promise.all(
      this.alive().map(async (n) => {
        const h = this.peers.get(n)!.handle
        const done = new Promise<void>((resolve) => this.stopped.set(h, resolve))
        h.send({ op: 'stop' })
        if ((await Promise.race([done, sleep(timeoutMs).then(() => 'timeout' as const)])) === 'timeout') this.failures.push(`${n}: writers still busy ${timeoutMs} ms after being told to stop`)
      }),
    )
  }

  private onMessage(h: ChildHandle, m: Record<string, unknown>): void {
    if (m.t === 'a' || m.t === 'e') this.ledger.record(m as unknown as WriterEvent)
    else if (m.t === 'r') this.reads.get(m.id as number)?.(m)
    else if (m.t === 'stopped') this.stopped.get(h)?.()
  }

  async metrics(name: string): Promise<{ domainsPrimary: number; peers: string[] } | undefined> {
    const p = this.peers.get(name)
    if (!p?.handle.alive || !p.metricsUrl) return undefined
    return getJson<{ domainsPrimary: number; peers: string[] }>(`${p.metricsUrl}/metrics.json`).catch(() => undefined)
  }

  async health(name: string): Promise<{ epoch: number; safe: boolean } | undefined> {
    const p = this.peers.get(name)
    if (!p?.handle.alive || !p.metricsUrl) return undefined
    return getJson<{ epoch: number; safe: boolean }>(`${p.metricsUrl}/health`).catch(() => undefined)
  }

  /** The newest view any live instance printed: [epoch, the line]. */
  latestView(): { epoch: number; line: string } | undefined {
    let best: { epoch: number; line: string } | undefined
    for (const inst of this.instances.values()) {
      if (!inst.handle?.alive) continue
      for (const line of inst.handle.output) {
        const m = /^(?:\[\S+\] )?view (\d+):/.exec(line)
        if (m && (!best || Number(m[1]) > best.epoch)) best = { epoch: Number(m[1]), line }
      }
    }
    return best
  }

  /** Every peer up, safe, on one epoch (the newest view an instance printed), linked to every other. */
  async settle(timeoutMs: number): Promise<string | undefined> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const lines: string[] = []
      const view = this.latestView()
      let ok = this.alive().length === this.names.length && view !== undefined
      for (const n of this.names) {
        const h = await this.health(n)
        const m = await this.metrics(n)
        if (!h || !m) {
          ok = false
          lines.push(`${n}: not answering`)
          continue
        }
        if (!h.safe || m.peers.length !== this.names.length - 1 || h.epoch !== view?.epoch) ok = false
        lines.push(`${n}: epoch ${h.epoch} safe ${h.safe} links ${m.peers.length}`)
      }
      const up = view !== undefined && this.names.every((n) => new RegExp(`(^|\\s)${n}(\\s|$)`).test(view.line.replace(/^(?:\[\S+\] )?view \d+:/, '')))
      const seen = `instances ${view?.line ?? '(no view)'}; ${lines.join('; ')}`
      if (ok && up) return undefined
      if (Date.now() > end) return seen
      await sleep(250)
    }
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

  private finalOf(key: string, i: number): Promise<KeyFinal> {
    return readFinal(key, i, { vs: VS, alive: this.alive(), read: (via, k) => this.read(via, k), metricsUrl: (n) => this.peers.get(n)!.metricsUrl })
  }

  /** Every acknowledged write on the primary's answer and on every owner's copy (copies may converge for up to `graceMs`). */
  async verify(graceMs = 20_000): Promise<CheckResult> {
    const end = Date.now() + graceMs
    for (;;) {
      const keys = [...this.ledger.keys.keys()].sort()
      const finals = new Map<string, KeyFinal>()
      for (let i = 0; i < keys.length; i += 32) {
        const batch = keys.slice(i, i + 32)
        const fs = await Promise.all(batch.map((k, j) => this.finalOf(k, i + j)))
        batch.forEach((k, j) => finals.set(k, fs[j]!))
      }
      const r = check(this.ledger, finals)
      if ((r.divergent === 0 && r.readErrors === 0) || Date.now() > end) return r
      await sleep(1000)
    }
  }

  /**
   * Every view the instances published, in the order etcd took them: the state key's whole
   * history (etcd keeps every revision; nothing compacts it here), replayed by a watch from
   * revision 1 up to the key's current revision.
   */
  async stateHistory(): Promise<{ revision: number; epoch: number; owners: Record<number, string[]>; members: string[]; down: string[] }[]> {
    const client = new Etcd3({ hosts: this.etcd.urls })
    const key = '/domainmesh/faults/state'
    try {
      const last = (await client.get(key).exec()).kvs[0]
      if (!last) return []
      const out: { revision: number; epoch: number; owners: Record<number, string[]>; members: string[]; down: string[] }[] = []
      const watcher = await client.watch().key(key).startRevision('1').create()
      await new Promise<void>((resolve, reject) => {
        watcher.on('error', reject)
        watcher.on('put', (kv) => {
          const st = JSON.parse(kv.value.toString()) as { epoch: number; owners: Record<number, string[]>; members: { nodeId: string; status: string }[] }
          out.push({ revision: Number(kv.mod_revision), epoch: st.epoch, owners: st.owners, members: st.members.map((m) => m.nodeId), down: st.members.filter((m) => m.status === 'down').map((m) => m.nodeId) })
          if (kv.mod_revision === last.mod_revision) resolve()
        })
      })
      await watcher.cancel()
      return out
    } finally {
      client.close()
    }
  }

  tails(lines = 15): string {
    const parts: string[] = []
    for (const [n, i] of this.instances) parts.push(`--- ${n}\n${i.handle?.tail(lines) ?? ''}`)
    for (const n of this.names) parts.push(`--- ${n}\n${this.peers.get(n)?.handle.tail(lines) ?? ''}`)
    return parts.join('\n')
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all([...this.handles].map((h) => h.kill()))
    await this.etcd?.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}
