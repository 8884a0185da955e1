/**
 * Rebalancing hands domains to a node that joins. The view that does so reaches the nodes at
 * different times; the new primary may fence the old one before the old one hears of the view.
 * Writes in flight at that moment were taken over by the new primary: they must end acked.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('primary hand-off', () => {
  it('a node joins while writes stream to every domain, and views reach the old primaries late: every write is acked', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2, domainCount: 16, healDelayMs: 500, faults: { delay: 1, delayMs: [1, 3] } })
    const client = c.node('a').store('shop')
    const errors: unknown[] = []
    let acked = 0
    let stop = false
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) await client.put(`k${(i * 8 + w) % 64}`, { w, i }).then(() => acked++, (e: unknown) => errors.push(e))
    }
    const writers = Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)))
    for (const n of ['a', 'b', 'c']) c.topologyDelayMs.set(n, 5)
    let handedOff = 0
    for (const n of c.nodes.values()) n.state.events.on('role-changed', ({ role }) => role === 'backup' && handedOff++)
    await c.settle(50)
    await c.startNode('e')
    await c.run(c.settleHealing().then(() => (stop = true)), 120_000)
    await c.run(writers)
    expect(errors.map(String)).toEqual([])
    expect(handedOff, 'old primaries handed domains over').toBeGreaterThan(0)
    expect(c.node('e').health().primaryOf).toBeGreaterThan(0)
    expect(acked).toBeGreaterThan(100)
  })
})
