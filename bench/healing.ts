/**
 * Healing and memory: 100,000 objects in 64 domains on three nodes (replicas 2). Then one peer is
 * killed for good; after the heal delay its domains are copied to the remaining node, one domain
 * at a time. Figures: time from the end of the heal delay to full replication, the longest lock
 * any domain was held, and p99 write latency to the domains that needed no copy: before the kill,
 * during the healing (from the end of the heal delay to full replication, the window the healing
 * time is measured over), and during the heal delay itself (failover of the victim's domains).
 * Until 2026-12-03 "during" began at the kill, so it mixed the failover's work into the healing's.
 * Memory is read on the surviving peer, against itself at rest before the fill: 3 s after the
 * fill, and at rest after the healing (memory.ts).
 */
import { performance } from 'node:perf_hooks'
import type { NodeId } from '../src/ids.js'
import type { BenchCluster } from './cluster.js'
import { atRest, fill, jsonBytesPerObject, readMemory } from './memory.js'
import { percentile } from './stats.js'
import { domainRoles } from '../src/topology/placement.js'

export interface HealingResult {
  objects: number
  copyMs: number
  maxLockMs: number
  p99BeforeMs: number
  p99DuringMs: number
  /** p99 of the writes that started between the kill and the end of the heal delay (failover). */
  p99DelayMs: number
  /** Resident growth of the surviving peer per 100,000 objects it holds: 3 s after the fill, and at rest after the healing (memory.ts). */
  memoryRightAfterBytesPer100k: number
  memoryAtRestBytesPer100k: number
  /** From the end of the healing to rest (ms), or undefined if the peer did not come to rest. */
  restMs: number | undefined
  jsonBytesPer100k: number
  /**
   * Then the victim restarts on its data folder (past the heal delay, so it is a new member): from
   * the restart to full replication again, with the victim back on every domain placed on it.
   * Most of those copies go to a copy it already holds whole (writes went to other domains).
   */
  rejoinMs: number
  /** Domains copied back to it. */
  rejoinDomains: number
}

const VS = 'heal'

export async function healing(c: BenchCluster, objects: number, healDelayMs: number): Promise<HealingResult> {
  const store = c.driver.store(VS)
  const peer = c.peers[1]!
  const fresh = (await atRest(peer)).memory
  await fill(c, VS, objects)
  await new Promise((r) => setTimeout(r, 3000)) // let compaction and the journal's checkpoint settle
  const filled = await readMemory(peer)

  // Domains whose copies are on the driver and the surviving peer need no copy: writes go there.
  const victim = c.peers[0]!.name as NodeId
  const calm: string[] = []
  for (let i = 0; calm.length < 200 && i < objects; i++) {
    const d = c.driver.state.domainOf(VS as never, `h${i}`)
    if (!c.driver.state.placement(d).replicas.includes(victim)) calm.push(`h${i}`)
  }
  /** [start, latency] of each write, one every 5 ms after the last returned, until `until`. */
  const paced = async (until: () => boolean): Promise<[number, number][]> => {
    const lat: [number, number][] = []
    for (let i = 0; !until(); i++) {
      const t = performance.now()
      await store.patch(calm[i % calm.length]!, [{ op: 'replace', path: ['price'], value: i }])
      lat.push([t, performance.now() - t])
      await new Promise((r) => setTimeout(r, 5))
    }
    return lat
  }
  const p99Of = (lat: [number, number][], from = -Infinity, to = Infinity) =>
    percentile(lat.filter(([t]) => t >= from && t < to).map(([, ms]) => ms).sort((a, b) => a - b), 99)
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
  const rest = await atRest(peer)
  const per100k = (m: { rssBytes: number; objects: number }) => ((m.rssBytes - fresh.rssBytes) / (m.objects - fresh.objects)) * 100_000
  if (process.env.DM_MEM_DETAIL) console.log('memory: fresh', JSON.stringify(fresh), 'filled', JSON.stringify(filled), 'at rest', JSON.stringify(rest))

  // The victim back on its data folder: every domain placed on it must own it again.
  const settings = c.driver.settings
  const whole = () => {
    const view = c.driver.topology.view()
    if (!view.members.some((m) => m.nodeId === victim && m.status === 'up')) return false
    for (let d = 0; d < settings.domainCount; d++) {
      const r = domainRoles(view, settings, d)
      if (!r.primary || r.healing.length > 0 || !r.replicas.every((n) => r.owners.includes(n))) return false
    }
    return c.driver.health().safe
  }
  const restartedAt = performance.now()
  let rejoinDomains = 0
  const counting = c.driver.topology.events.on('view', ({ view }) => {
    if (rejoinDomains > 0) return
    for (let d = 0; d < settings.domainCount; d++) if (domainRoles(view, settings, d).healing.includes(victim)) rejoinDomains++
  })
  await c.restart(victim)
  while (!whole()) {
    if (performance.now() - restartedAt > 300_000) throw new Error('healing back to the restarted peer did not finish in 5 minutes')
    await new Promise((r) => setTimeout(r, 20))
  }
  const rejoinMs = performance.now() - restartedAt
  counting()
  return {
    objects,
    copyMs,
    maxLockMs,
    p99BeforeMs: p99Of(before),
    p99DuringMs: p99Of(duringLat, healStart),
    p99DelayMs: p99Of(duringLat, -Infinity, healStart),
    memoryRightAfterBytesPer100k: per100k(filled),
    memoryAtRestBytesPer100k: per100k(rest.memory),
    restMs: rest.waitedMs,
    jsonBytesPer100k: jsonBytesPerObject() * 100_000,
    rejoinMs,
    rejoinDomains,
  }
}
