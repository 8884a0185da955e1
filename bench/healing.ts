/**
 * Healing and memory: 100,000 objects in 64 domains on three nodes (replicas 2). Then one peer is
 * killed for good; after the heal delay its domains are copied to the remaining node, one domain
 * at a time. Figures: time from the end of the heal delay to full replication, the longest lock
 * any domain was held, and p99 write latency to the domains that needed no copy, before and during.
 * Memory: the resident memory a peer process grew by while it took its share of the objects,
 * against the JSON size of that share.
 */
import { performance } from 'node:perf_hooks'
import type { NodeId } from '../src/ids.js'
import type { BenchCluster } from './cluster.js'
import { percentile } from './stats.js'

export interface HealingResult {
  objects: number
  copyMs: number
  maxLockMs: number
  p99BeforeMs: number
  p99DuringMs: number
  memoryBytesPer100k: number
  jsonBytesPer100k: number
}

const VS = 'heal'
const value = (i: number) => ({ id: i, name: `object ${i}`, price: i % 997, tags: ['alpha', 'beta'], stock: { warehouse: i % 7, count: i % 113 } })

export async function healing(c: BenchCluster, objects: number, healDelayMs: number): Promise<HealingResult> {
  const store = c.driver.store(VS)
  const peer = c.peers[1]!
  const rss0 = (await peer.metrics()).process as { rssBytes: number; heapUsedBytes: number }
  const held0 = (await peer.metrics()).objects
  let next = 0
  let retried = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < objects; i = next++) {
      // A put is idempotent: one whose outcome a primary change left unknown is simply sent again.
      for (let attempt = 1; ; attempt++) {
        try {
          await store.put(`h${i}`, value(i))
          break
        } catch (err) {
          const code = (err as { code?: string }).code
          if (attempt >= 3 || (code !== 'STALE_EPOCH' && code !== 'OUTCOME_UNKNOWN')) throw err
          retried++
        }
      }
    }
  }))
  if (retried > 0) console.log(`healing bench: ${retried} puts sent again after a primary change`)
  await new Promise((r) => setTimeout(r, 3000)) // let compaction and garbage collection settle
  const m1 = await peer.metrics()
  const held = m1.objects - held0
  const rssGrowth = (m1.process as { rssBytes: number }).rssBytes - rss0.rssBytes
  if (process.env.DM_MEM_DETAIL) console.log('memory before', JSON.stringify(rss0), 'after', JSON.stringify(m1.process), 'held', held)
  const jsonPerObject = JSON.stringify([...Array(1000)].map((_, i) => [`h${i}`, value(i)])).length / 1000

  // Domains whose copies are on the driver and the surviving peer need no copy: writes go there.
  const victim = c.peers[0]!.name as NodeId
  const calm: string[] = []
  for (let i = 0; calm.length < 200 && i < objects; i++) {
    const d = c.driver.state.domainOf(VS as never, `h${i}`)
    if (!c.driver.state.placement(d).replicas.includes(victim)) calm.push(`h${i}`)
  }
  const paced = async (until: () => boolean): Promise<number[]> => {
    const lat: number[] = []
    for (let i = 0; !until(); i++) {
      const t = performance.now()
      await store.patch(calm[i % calm.length]!, [{ op: 'replace', path: ['price'], value: i }])
      lat.push(performance.now() - t)
      await new Promise((r) => setTimeout(r, 5))
    }
    return lat.sort((a, b) => a - b)
  }
  const tBefore = performance.now()
  const before = await paced(() => performance.now() - tBefore > 3000)

  await c.kill(victim)
  const healStart = performance.now() + healDelayMs
  let healed = false
  const during = paced(() => healed)
  for (;;) {
    const view = c.driver.topology.view()
    const owners = Object.values(view.owners ?? {})
    if (performance.now() > healStart && !view.members.some((m) => m.nodeId === victim) && owners.every((o) => o.length === 2) && c.driver.health().safe && !c.driver.metrics().healing.inProgress) break
    if (performance.now() - healStart > 300_000) throw new Error('healing did not finish in 5 minutes')
    await new Promise((r) => setTimeout(r, 20))
  }
  const copyMs = performance.now() - healStart
  healed = true
  const duringLat = await during
  const maxLockMs = Math.max(c.driver.metrics().healing.maxLockMs, ((await peer.metrics()).healing as { maxLockMs: number }).maxLockMs)
  return {
    objects,
    copyMs,
    maxLockMs,
    p99BeforeMs: percentile(before, 99),
    p99DuringMs: percentile(duringLat, 99),
    memoryBytesPer100k: (rssGrowth / held) * 100_000,
    jsonBytesPer100k: jsonPerObject * 100_000,
  }
}
