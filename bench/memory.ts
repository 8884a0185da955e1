/**
 * Memory per 100,000 objects, read on one peer process against the same peer before the fill:
 *   - right after the fill: 3 s after the last of the puts (replicas 2 on three nodes: the peer
 *     holds about three quarters of them), as the earlier tables did. This includes what V8's
 *     young generation grew to under the burst (two 16 MB semi-spaces) and the old generation's
 *     headroom, which V8 keeps until it next collects while the allocation rate is low;
 *   - at rest: after the healing (the peer then holds every object), once its V8 has given that
 *     back by itself (about a minute after the burst, at its first full collection): what an
 *     operator sees on a node that is not under a burst. No collection is forced: `gc()` from
 *     --expose-gc does not shrink the young generation on this V8, and a heap snapshot, which
 *     does, adds memory of its own. Read after the healing, not before it: a young generation
 *     shrunk just before the healing made that burst's writes slower (p99 30-40 ms against 15-20).
 * Both are measured from the fresh peer at rest too, by the same test (`atRest`). Since 2026-12-06
 * a peer gives its C heap's free pages back after a full collection once it has been quiet for
 * 5 s (src/node/memory-release.ts), and "at rest" includes that trim: a fresh peer read before
 * its first trim (97.7 MB) and one read after it (86.2 MB) put 11 MB of noise into the baseline. Until
 * 2026-12-03 the baseline was read right after the peer started, before V8 had given back its
 * start-up headroom: 110-124 MB resident against 91-95 MB at rest a few seconds later, which
 * understated the growth by 15-30 MB and made it vary by 14 MB from run to run.
 */
import type { BenchCluster } from './cluster.js'
import type { PeerProcess } from '../test/helpers/processes.js'

export interface ProcessMemory {
  rssBytes: number
  heapTotalBytes: number
  heapUsedBytes: number
  /** Whether the peer's C heap was trimmed since its last write (absent: it does not trim). */
  memoryTrimmedSinceLastWrite?: boolean
  /** Memory-reducing collections the peer asked V8 for once quiet, and the ms the last one took. */
  memoryCollections?: number
  memoryCollectMs?: number
}

export const healValue = (i: number) => ({ id: i, name: `object ${i}`, price: i % 997, tags: ['alpha', 'beta'], stock: { warehouse: i % 7, count: i % 113 } })

/** JSON of one object with its key, as stored. */
export const jsonBytesPerObject = (): number => JSON.stringify([...Array(1000)].map((_, i) => [`h${i}`, healValue(i)])).length / 1000

/** Longest wait for a peer to come to rest. */
const REST_LIMIT_MS = 150_000
/**
 * At rest: V8's heap is at most this much larger than what it holds. Seen on peers: 1.10-1.14 at
 * rest (fresh or after the healing), 1.6-1.8 with the headroom of start-up or of a burst.
 */
const REST_HEAP_RATIO = 1.3
/** Resident size may move this much between the two readings of `atRest` (bytes). */
const REST_RSS_DRIFT = 1 << 20
const REST_POLL_MS = 2000
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
 * Waits until the peer is at rest: two readings in a row, `REST_POLL_MS` apart, each with its V8
 * heap within `REST_HEAP_RATIO` of what it holds, its C heap trimmed since its last write (if
 * it trims), and the resident size of the two within
 * `REST_RSS_DRIFT`. Returns the second and how long it took (undefined: not in time; the last
 * reading is returned then). One reading was not enough: a peer's quiet sweep (store.coolAfterMs)
 * could start right after it, and the reading taken 2 s later, the one reported, caught its
 * buffers: 48.7 MB per 100,000 objects against 34.5 and 21.9 in the runs before and after.
 */
export async function atRest(peer: PeerProcess): Promise<{ memory: ProcessMemory & { objects: number }; waitedMs: number | undefined }> {
  const start = performance.now()
  const calm = (m: ProcessMemory) => m.heapTotalBytes <= REST_HEAP_RATIO * m.heapUsedBytes && m.memoryTrimmedSinceLastWrite !== false
  let last = await readMemory(peer)
  for (;;) {
    await sleep(REST_POLL_MS)
    const m = await readMemory(peer)
    if (calm(last) && calm(m) && Math.abs(m.rssBytes - last.rssBytes) <= REST_RSS_DRIFT) return { memory: m, waitedMs: performance.now() - start }
    if (performance.now() - start > REST_LIMIT_MS) return { memory: m, waitedMs: undefined }
    last = m
  }
}
