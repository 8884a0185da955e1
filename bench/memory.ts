/**
 * Memory per 100,000 objects, read on one peer process against the fresh peer's resident memory:
 *   - right after the fill: 3 s after the last of the puts (replicas 2 on three nodes: the peer
 *     holds about three quarters of them), as the earlier tables did. This includes what V8's
 *     young generation grew to under the burst (two 16 MB semi-spaces) and the old generation's
 *     headroom, which V8 keeps until it next collects while the allocation rate is low;
 *   - at rest: after the healing (the peer then holds every object), once its V8 has given that
 *     back by itself, i.e. its heap is no larger than the fresh peer's again (70 -> 25 MB here,
 *     about a minute later, at the first full collection after the burst): what an operator sees
 *     on a node that is not under a burst. No collection is forced: `gc()` from --expose-gc does
 *     not shrink the young generation on this V8, and a heap snapshot, which does, adds memory of
 *     its own. Read after the healing, not before it: a young generation shrunk just before the
 *     healing made that burst's writes slower (p99 during healing 30-40 ms against 15-20).
 */
import type { BenchCluster } from './cluster.js'
import type { PeerProcess } from '../test/helpers/processes.js'

export interface ProcessMemory {
  rssBytes: number
  heapTotalBytes: number
}

export const healValue = (i: number) => ({ id: i, name: `object ${i}`, price: i % 997, tags: ['alpha', 'beta'], stock: { warehouse: i % 7, count: i % 113 } })

/** JSON of one object with its key, as stored. */
export const jsonBytesPerObject = (): number => JSON.stringify([...Array(1000)].map((_, i) => [`h${i}`, healValue(i)])).length / 1000

/** Longest wait for a peer to come to rest. */
const REST_LIMIT_MS = 150_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const readMemory = async (peer: PeerProcess): Promise<ProcessMemory & { objects: number }> => {
  const m = await peer.metrics()
  return { ...(m.process as ProcessMemory), objects: m.objects }
}

/** Puts `objects` objects (`h0`, `h1`, ...) into virtual server `vs` through the driver, 64 at a time. */
export async function fill(c: BenchCluster, vs: string, objects: number): Promise<void> {
  const store = c.driver.store(vs)
  let next = 0
  let retried = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < objects; i = next++) {
      // A put is idempotent: one whose outcome a primary change left unknown is simply sent again.
      for (let attempt = 1; ; attempt++) {
        try {
          await store.put(`h${i}`, healValue(i))
          break
        } catch (err) {
          const code = (err as { code?: string }).code
          if (attempt >= 3 || (code !== 'STALE_EPOCH' && code !== 'OUTCOME_UNKNOWN')) throw err
          retried++
        }
      }
    }
  }))
  if (retried > 0) console.log(`fill: ${retried} puts sent again after a primary change`)
}

/**
 * Waits until the peer's V8 heap is no larger than `fresh`'s, then for its released pages to
 * leave the resident set. Returns the reading and how long it took (undefined: not in time).
 */
export async function atRest(peer: PeerProcess, fresh: ProcessMemory): Promise<{ memory: ProcessMemory & { objects: number }; waitedMs: number | undefined }> {
  const start = performance.now()
  let waitedMs: number | undefined
  for (;;) {
    if ((await readMemory(peer)).heapTotalBytes <= fresh.heapTotalBytes) {
      waitedMs = performance.now() - start
      break
    }
    if (performance.now() - start > REST_LIMIT_MS) break
    await sleep(2000)
  }
  await sleep(2000)
  return { memory: await readMemory(peer), waitedMs }
}
