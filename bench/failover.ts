/**
 * Failover: kill -9 the process that is primary of a domain, then write to that domain in a
 * loop; the figure is the time from the kill to the first acknowledged write.
 */
import { performance } from 'node:perf_hooks'
import type { Store } from '../src/store/store.js'
import type { BenchCluster } from './cluster.js'
import { OBJECTS } from './domainmesh.js'

export async function failover(c: BenchCluster, store: Store, victim: string): Promise<number> {
  const key = Array.from({ length: OBJECTS }, (_, i) => `o${i}`).find((k) => c.driver.state.placement(c.driver.state.domainOf('bench' as never, k)).primary === victim)
  if (!key) throw new Error(`${victim} leads no domain`)
  await store.patch(key, [{ op: 'replace', path: ['f0'], value: 'before' }])
  const t0 = performance.now()
  await c.kill(victim)
  for (let i = 0; ; i++) {
    try {
      await store.patch(key, [{ op: 'replace', path: ['f0'], value: i }])
      return performance.now() - t0
    } catch {
      if (performance.now() - t0 > 30_000) throw new Error('no write succeeded within 30 s of the kill')
    }
  }
}
