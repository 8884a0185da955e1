/**
 * domainmesh under the benchmark workload: 1,000 objects of 20 fields; each operation changes one
 * field of one object (a one-leaf Immer patch). A write is counted when its acknowledgement
 * arrives, which the primary sends once every in-sync owner holds it (with `replicas` 3 on three
 * nodes: every node).
 */
import { performance } from 'node:perf_hooks'
import type { Store } from '../src/store/store.js'
import type { BenchCluster } from './cluster.js'
import { percentile } from './stats.js'

export const OBJECTS = 1000
export const FIELDS = 20
const VS = 'bench'

export interface LoadResult {
  opsPerSec: number
  p50: number
  p99: number
  bytesPerOp: number
}

export async function prepare(c: BenchCluster): Promise<Store> {
  const store = c.driver.store(VS)
  const fields = Object.fromEntries(Array.from({ length: FIELDS }, (_, f) => [`f${f}`, 0]))
  const queue = Array.from({ length: OBJECTS }, (_, i) => i)
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) await store.put(`o${i}`, { ...fields })
  }))
  return store
}

/** `ops` one-field patches from `writers` concurrent loops, as fast as acknowledgements allow. */
export async function load(c: BenchCluster, store: Store, ops: number, writers: number, base = 0): Promise<LoadResult> {
  const latencies: number[] = []
  let next = 0
  const bytes0 = await c.bytesOut()
  const start = performance.now()
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let op = next++; op < ops; op = next++) {
        const n = base + op
        const t = performance.now()
        await store.patch(`o${n % OBJECTS}`, [{ op: 'replace', path: [`f${Math.floor(n / OBJECTS) % FIELDS}`], value: n }])
        latencies.push(performance.now() - t)
      }
    }),
  )
  const seconds = (performance.now() - start) / 1000
  const bytes = (await c.bytesOut()) - bytes0
  latencies.sort((a, b) => a - b)
  return { opsPerSec: ops / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), bytesPerOp: bytes / ops }
}

/**
 * The CRDT writers' discipline (yjs-peer.ts): changes are issued without waiting for any answer,
 * 200 at a time with the event loop let through in between, until `ops` are out. A change counts
 * when its acknowledgement arrives (every replica holds it on disk); the rate is ops over the
 * time to the last acknowledgement. Latency: call to acknowledgement, so it includes the queue.
 */
export async function unpaced(c: BenchCluster, store: Store, ops: number, base = 0): Promise<LoadResult> {
  const latencies: number[] = []
  const bytes0 = await c.bytesOut()
  const start = performance.now()
  const acks: Promise<void>[] = []
  for (let op = 0; op < ops; op++) {
    const n = base + op
    const t = performance.now()
    acks.push(store.patch(`o${n % OBJECTS}`, [{ op: 'replace', path: [`f${Math.floor(n / OBJECTS) % FIELDS}`], value: n }]).then(() => void latencies.push(performance.now() - t)))
    if (op % BURST === BURST - 1) await new Promise((r) => setImmediate(r))
  }
  await Promise.all(acks)
  const seconds = (performance.now() - start) / 1000
  const bytes = (await c.bytesOut()) - bytes0
  latencies.sort((a, b) => a - b)
  return { opsPerSec: ops / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), bytesPerOp: bytes / ops }
}
/** Changes issued per event-loop turn by `unpaced`, as the Yjs writer does. */
const BURST = 200

export interface PacedResult {
  /** Write call to acknowledgement: every in-sync owner has it on disk. */
  p50: number
  p99: number
  /** Write call to the moment each other node's copy applied it (what Yjs's one-way measures). */
  oneWayP50: number
  oneWayP99: number
}

/**
 * One write every `gapMs` (low load): the latency of a write when nothing else is queued. Each
 * write carries -n, which the peer processes report when their copies apply it (dm-peer.ts).
 */
export async function paced(c: BenchCluster, store: Store, ops: number, gapMs: number, base = 0): Promise<PacedResult> {
  const latencies: number[] = []
  const sent = new Map<number, number>()
  for (let op = 0; op < ops; op++) {
    const n = base + op
    const t = performance.now()
    sent.set(n, performance.timeOrigin + t)
    await store.patch(`o${n % OBJECTS}`, [{ op: 'replace', path: [`f${Math.floor(n / OBJECTS) % FIELDS}`], value: -n }])
    const took = performance.now() - t
    latencies.push(took)
    if (took < gapMs) await new Promise((r) => setTimeout(r, gapMs - took))
  }
  // Every key is on both peers with replicas 3; with 2, on whichever holds its domain.
  const expected = (n: number) => c.driver.state.placement(c.driver.state.domainOf(VS as never, `o${n % OBJECTS}`)).replicas.filter((r) => r !== c.driver.nodeId).length
  await c.awaitArrivals(sent.keys(), expected)
  const oneWay = [...sent].flatMap(([n, at]) => c.arrivals.get(n)!.map((arrived) => arrived - at)).sort((a, b) => a - b)
  latencies.sort((a, b) => a - b)
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), oneWayP50: percentile(oneWay, 50), oneWayP99: percentile(oneWay, 99) }
}
