/**
 * Fresh clusters: every run on new processes, nothing warmed up. The writer is a peer process,
 * as it is for Yjs, and the bench process only hosts the topology service and asks questions.
 *   - throughput: the first `ops` changes after start (the objects made first), a random object
 *     and field per change (workload.ts), issued without waiting; counted when every peer's own
 *     copy has applied the last of them, writer included, for domainmesh (replicas 3) and Yjs;
 *   - low-load latency right after, on the same processes: one change every 5 ms, one-way from
 *     the writer's call to each other peer's copy applying it;
 *   - CPU time per change per node: `process.cpuUsage()` of every peer (all its threads) over a
 *     run in which every node writes, replicas 2, for 3 and 5 nodes;
 *   - memory: a peer's resident size 30 s after a fill of small objects, against the JSON size of
 *     what it holds.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { startTopologyServer, type TopologyServer } from '../src/node.js'
import { domainRoles } from '../src/topology/placement.js'
import { spawnPeer, type PeerProcess } from '../test/helpers/processes.js'
import { jsonBytesPerObject, type ProcessMemory } from './memory.js'
import { percentile } from './stats.js'
import type { Plan } from './workload.js'
import { YjsCluster } from './yjs.js'

const SECRET = 'bench-secret-0123'
const PEER = join(import.meta.dirname, 'dm-peer.ts')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** After the writer's answer (every change acknowledged), copies that have not applied everything within `ms` never will. */
const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms).unref())])

/** A peer process spoken to in JSON lines (dm-peer.ts). */
export class JsonPeer {
  private readonly waiting: { op: string; resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = []
  private readonly early: Record<string, unknown>[] = []
  constructor(readonly p: PeerProcess) {
    // One listener for the life of the process (one per question grew past Node's warning limit).
    p.proc.once('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${p.name} exited (${code}) before "${w.op}": ${p.output.join('').slice(-1500)}`))
    })
    createInterface({ input: p.proc.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const m = JSON.parse(line) as Record<string, unknown>
      const i = this.waiting.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m)
      else this.early.push(m)
    })
  }
  next(op: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const i = this.early.findIndex((m) => m.op === op)
    if (i >= 0) return Promise.resolve(this.early.splice(i, 1)[0]!)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.p.name}: no "${op}" within ${timeoutMs} ms; last output: ${this.p.output.join('').slice(-1500)}`)), timeoutMs)
      this.waiting.push({ op, resolve: (m) => (clearTimeout(timer), resolve(m)), reject: (e) => (clearTimeout(timer), reject(e)) })
    })
  }
  ask(cmd: object, op: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const answer = this.next(op, timeoutMs)
    this.p.proc.stdin!.write(`${JSON.stringify(cmd)}\n`)
    return answer
  }
}

export interface DmFresh {
  peers: JsonPeer[]
  close(): Promise<void>
}

/** `nodes` peer processes and the topology service; resolves once every domain has its owners and the view has stood still for 1.5 s. */
export async function startDm(nodes: number, replicas: number, domainCount = 64): Promise<DmFresh> {
  const dir = await mkdtemp(join(process.env.DM_BENCH_DIR ?? tmpdir(), 'dm-fresh-'))
  // The service's defaults (heartbeat 1 s), as a new user would start it: the warm rows' 500 ms
  // heartbeat had peers marked down mid-run when other jobs starved this machine.
  const server: TopologyServer = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount, replicas } })
  const names = Array.from({ length: nodes }, (_, i) => `p${i + 1}`)
  const procs = await Promise.all(names.map((n) => spawnPeer(n, join(dir, n), server.url, SECRET, PEER)))
  const close = async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')))
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const deadline = Date.now() + 120_000
    let last = ''
    let since = Date.now()
    for (;;) {
      const ms = await Promise.all(procs.map((p) => p.metrics()))
      const hs = await Promise.all(procs.map((p) => p.health()))
      // Every domain on its final replicas too (the view, as the service holds it): owners can be
      // complete while placement still wants a domain on a node that joined last, and a primary
      // that moves mid-run fences the writes in flight.
      const view = server.service.view()
      const placed = Array.from({ length: domainCount }, (_, d) => domainRoles(view, { domainCount, replicas }, d)).every((r) => r.healing.length === 0 && r.owners.length === replicas && r.primary !== undefined)
      const up = view.members.filter((m) => m.status === 'up').length === nodes
      const ok = up && placed && ms.every((m) => m.peers.length === nodes - 1) && hs.every((h) => h.safe && h.underReplicated.length === 0)
      const key = `${ok} ${hs.map((h) => h.epoch).join(',')}`
      if (key !== last) (last = key), (since = Date.now())
      if (ok && Date.now() - since >= 1500) break
      if (Date.now() > deadline) throw new Error(`fresh cluster did not settle: ${JSON.stringify(hs)}`)
      await sleep(100)
    }
  } catch (err) {
    await close()
    throw err
  }
  return { peers: procs.map((p) => new JsonPeer(p)), close }
}

export interface FreshResult {
  opsPerSec: number
  /** One-way at low load (ms): writer's call to each other peer's copy. */
  lowP50: number
  lowP99: number
  /** CPU seconds of every peer (all threads) over the burst, per change, averaged over the peers (µs). */
  cpuUsPerChangePerNode: number
  /** The same for the writer alone, and the mean of the others (µs). */
  cpuUsWriter: number
  cpuUsOthers: number
}

/** The same steps for both systems; `peers[0]` writes. */
interface Driven {
  ask(i: number, cmd: object, op: string, timeoutMs?: number): Promise<Record<string, unknown>>
  next(i: number, op: string, timeoutMs?: number): Promise<Record<string, unknown>>
  count: number
}

const cpuOf = async (d: Driven) => Promise.all(Array.from({ length: d.count }, async (_, i) => {
  const m = await d.ask(i, { op: 'cpu' }, 'cpu')
  return (m.user as number) + (m.system as number)
}))

async function drive(d: Driven, plan: Plan, pacedOps: number, gapMs: number): Promise<FreshResult> {
  const all = Array.from({ length: d.count }, (_, i) => i)
  await Promise.all(all.map((i) => d.ask(i, { op: 'track', plan }, 'tracking')))
  // Handled here too: a run that fails before it awaits them closes the peers, which rejects them.
  const settled = <T>(p: Promise<T>) => (p.catch(() => undefined), p)
  const applied = all.map((i) => settled(d.next(i, 'applied', 300_000)))
  const cpu0 = await cpuOf(d)
  const written = await d.ask(0, { op: 'write', plan }, 'written', 300_000)
  if (written.errors) throw new Error(`${written.errors as number} changes failed, the first: ${written.firstError as string}`)
  const done = Math.max(...(await Promise.all(applied.map((a) => withTimeout(a, 30_000, 'every copy to apply the burst')))).map((m) => m.at as number))
  const cpu1 = await cpuOf(d)
  const spent = cpu1.map((c, i) => (c - cpu0[i]!) / plan.ops)
  const cpuUs = spent.reduce((a, b) => a + b, 0) / d.count
  const cpuUsOthers = spent.slice(1).reduce((a, b) => a + b, 0) / (d.count - 1)
  await sleep(1000) // the burst's acknowledgements and its last frames
  const low: Plan = { ...plan, seed: plan.seed + 1, base: plan.base + plan.ops, ops: pacedOps }
  const others = all.slice(1)
  await Promise.all(others.map((i) => d.ask(i, { op: 'track', plan: low, times: true }, 'tracking')))
  const arrivals = others.map((i) => settled(d.next(i, 'applied', 60_000)))
  const paced = await d.ask(0, { op: 'write', plan: low, gapMs }, 'written', 60_000)
  const sent = paced.sent as Record<string, number>
  const oneWay: number[] = []
  for (const a of await Promise.all(arrivals)) for (const [n, t] of Object.entries(a.times as Record<string, number>)) oneWay.push(t - sent[n]!)
  oneWay.sort((a, b) => a - b)
  return { opsPerSec: plan.ops / ((done - (written.t0 as number)) / 1000), lowP50: percentile(oneWay, 50), lowP99: percentile(oneWay, 99), cpuUsPerChangePerNode: cpuUs, cpuUsWriter: spent[0]!, cpuUsOthers }
}

export async function freshDm(plan: Plan, pacedOps: number, gapMs: number): Promise<FreshResult> {
  const c = await startDm(3, 3)
  try {
    await c.peers[0]!.ask({ op: 'fill', objects: plan.objects, fields: plan.fields }, 'filled')
    return await drive({ count: 3, ask: (i, cmd, op, t) => c.peers[i]!.ask(cmd, op, t), next: (i, op, t) => c.peers[i]!.next(op, t) }, plan, pacedOps, gapMs)
  } finally {
    await c.close()
  }
}

export async function freshYjs(plan: Plan, pacedOps: number, gapMs: number): Promise<FreshResult> {
  const c = await YjsCluster.start(plan.objects, plan.fields)
  try {
    return await drive({ count: 3, ask: (i, cmd, op, t) => c.peers[i]!.ask(cmd, op, t), next: (i, op, t) => c.peers[i]!.next(op, t) }, plan, pacedOps, gapMs)
  } finally {
    c.close()
  }
}

/**
 * CPU per change per node: `nodes` peers, replicas 2, each writing `ops / nodes` changes
 * (random objects and fields over all of them, so most go to domains other nodes lead), all
 * awaited. Per node: its CPU time over the run ÷ all the run's changes. Returns each node's.
 */
export async function cpuPerNode(nodes: number, plan: Plan): Promise<number[]> {
  const c = await startDm(nodes, 2)
  try {
    await c.peers[0]!.ask({ op: 'fill', objects: plan.objects, fields: plan.fields }, 'filled')
    await sleep(1000)
    const d: Driven = { count: nodes, ask: (i, cmd, op, t) => c.peers[i]!.ask(cmd, op, t), next: (i, op, t) => c.peers[i]!.next(op, t) }
    const cpu0 = await cpuOf(d)
    const per = Math.floor(plan.ops / nodes)
    const written = await Promise.all(c.peers.map((p, i) => p.ask({ op: 'write', plan: { ...plan, seed: plan.seed + i, base: plan.base + i * per, ops: per } }, 'written', 300_000)))
    const cpu1 = await cpuOf(d)
    const failed = written.find((w) => w.errors)
    if (failed) throw new Error(`${failed.errors as number} changes failed, the first: ${failed.firstError as string}`)
    return cpu1.map((c1, i) => (c1 - cpu0[i]!) / (per * nodes))
  } finally {
    await c.close()
  }
}

export interface MemoryResult {
  /** Resident size 30 s after the fill, of the peer that did not write (bytes), the larger of the two. */
  rssBytes: number
  /** Its growth over the reading just before the fill. */
  growthBytes: number
  /** That reading: the fresh peer at rest (its start-up headroom given back, see dm-peer.ts `rest`). */
  baselineBytes: number
  /** Its collections once quiet (memory-release.ts) and the ms the last took, if it asked for any. */
  collections: number
  collectMs: number
  /** Objects it holds, and their JSON. */
  objects: number
  jsonBytes: number
}

/**
 * Three peers, replicas 2; peer 1 puts `objects` small objects (64 in flight); the others are read
 * at rest just before (their start-up headroom given back, as a quiet peer gives back a burst's)
 * and 30 s after the last put.
 */
export async function memoryAfterFill(objects: number, waitMs = 30_000): Promise<MemoryResult> {
  const c = await startDm(3, 2)
  try {
    const read = async (i: number) => {
      const m = await c.peers[i]!.p.metrics()
      return { ...(m.process as ProcessMemory), objects: m.objects }
    }
    for (const r of await Promise.all([1, 2].map((i) => c.peers[i]!.ask({ op: 'rest' }, 'rested')))) if (r.error) throw new Error(String(r.error))
    const before = await Promise.all([1, 2].map(read))
    const filled = await c.peers[0]!.ask({ op: 'fill-small', objects }, 'filled', 600_000)
    if (filled.error) throw new Error(String(filled.error))
    await sleep(waitMs)
    const after = await Promise.all([1, 2].map(read))
    const per = jsonBytesPerObject()
    const worst = [0, 1].map((i) => ({ rssBytes: after[i]!.rssBytes, growthBytes: after[i]!.rssBytes - before[i]!.rssBytes, baselineBytes: before[i]!.rssBytes, collections: after[i]!.memoryCollections ?? 0, collectMs: after[i]!.memoryCollectMs ?? 0, objects: after[i]!.objects, jsonBytes: after[i]!.objects * per })).sort((a, b) => b.growthBytes / b.jsonBytes - a.growthBytes / a.jsonBytes)
    return worst[0]!
  } finally {
    await c.close()
  }
}
