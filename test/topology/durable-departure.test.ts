/**
 * A durable owner that leaves the view (down past the heal delay) is not dropped in favour of tabs
 * that cannot carry the domain: tabs that are down as well, or that a restarted topology service
 * has not heard from yet. Those tabs may be closed for good, and the domain would wait for them
 * for ever while the durable owner's disk holds everything acknowledged (sim --tabs seeds 1
 * and 18, before). Nodes join a real TopologyService over the memory transport, on a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId } from '../../src/ids.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const VS = virtualServerId('shop')
const DOMAINS = 8

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** n1 (durable) and tab-1 own every domain; a value is written to each domain through n1. */
async function start(): Promise<{ cl: ServiceCluster; acked: Map<string, unknown> }> {
  const cl = new ServiceCluster({ replicas: 2, domainCount: DOMAINS, healDelayMs: 2000 })
  c = cl
  await cl.startNode('n1', { durable: true })
  await cl.startNode('tab-1')
  await cl.settleHealing()
  const n1 = cl.node('n1')
  for (let d = 0; d < DOMAINS; d++) expect(n1.state.placement(d).owners).toEqual(['n1', 'tab-1'])
  const acked = new Map<string, unknown>()
  for (let i = 0; acked.size < DOMAINS; i++) {
    const key = `k${i}`
    if ([...acked.keys()].some((k) => n1.state.domainOf(VS, k) === n1.state.domainOf(VS, key))) continue
    await cl.run(n1.store(VS).put(key, { i }))
    acked.set(key, { i })
  }
  return { cl, acked }
}

/** n1 back on its disk, the tab closed for good: every domain has n1 as its primary and reads back. */
async function expectServedByN1(cl: ServiceCluster, acked: Map<string, unknown>): Promise<void> {
  await cl.startNode('n1', { durable: true })
  await cl.settle(1000)
  const n1 = cl.node('n1')
  const primaries = [...Array(DOMAINS).keys()].map((d) => n1.state.placement(d).primary ?? `none (owners ${n1.state.placement(d).owners.join()})`)
  expect(primaries).toEqual(Array(DOMAINS).fill('n1'))
  for (const [key, value] of acked) expect(await cl.run(n1.store(VS).get(key))).toEqual(value)
}

describe('a durable owner that leaves the view', () => {
  it('stays an owner when the tabs that own the domain with it are down too (every member went down at once)', async () => {
    const { cl, acked } = await start()
    // Everything dies at once, and stays away past the heal delay: the service removes n1 first
    // (called down first, while tab-1 is still a member, down), then tab-1, which never comes back.
    cl.crash('n1')
    cl.crash('tab-1')
    await cl.settle(4000)
    expect(cl.service.view().members).toEqual([])
    await expectServedByN1(cl, acked)
  })

  it('stays an owner when a restarted service has not heard from the tabs yet (one closed while it was down)', async () => {
    const { cl, acked } = await start()
    // The service restarts; tab-1 closes before it reconnects, so the new service still counts it
    // up for its reconnect allowance. n1 reconnects, then dies, and leaves the view meanwhile.
    cl.crashService()
    cl.crash('tab-1')
    const restarted = (await cl.startService()).view().epoch
    // n1's hello is a new view (the restarted service publishes one per admitted member).
    for (let t = 0; cl.node('n1').health().epoch <= restarted; t += 50) {
      if (t > 10_000) throw new Error('n1 did not reconnect')
      await cl.settle(50)
    }
    cl.crash('n1')
    await cl.settle(2500)
    expect(cl.service.view().members.map((m) => `${m.nodeId}:${m.status}`)).toEqual(['tab-1:up'])
    // Past the allowance the service calls tab-1 down, and removes it later.
    await cl.settle(10_000)
    expect(cl.service.view().members).toEqual([])
    await expectServedByN1(cl, acked)
  })
})
