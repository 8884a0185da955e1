/**
 * The topology service lost its state file: it rebuilds epoch and owners from the last views the
 * nodes kept with their data, and a domain waits until every owner that view listed has said
 * where its copy ends. Epochs never go back and no domain answers "absent" meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId } from '../../src/ids.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const VS = virtualServerId('shop')

describe('a topology service that lost its state', () => {
  let c: ServiceCluster | undefined
  afterEach(async () => {
    await c?.close()
    c = undefined
  })

  it('rebuilds epoch and owners from the nodes: every key reads back, and the cluster still fails over', async () => {
    c = await ServiceCluster.start(['n1', 'n2', 'n3'], { replicas: 2, domainCount: 8, healDelayMs: 2000 })
    const s = c.node('n1').store('shop')
    for (let i = 0; i < 40; i++) await c.run(s.put(`k${i}`, { i }))
    const before = c.service.view()
    c.crashService()
    c.serviceState.wipe()
    const service = await c.startService()
    await c.settle(3000) // the nodes reconnect with their last views and report their copies
    const after = service.view()
    expect(after.epoch).toBeGreaterThan(before.epoch)
    expect(after.waiting ?? []).toEqual([])
    for (let d = 0; d < 8; d++) expect(after.owners?.[d]?.length, `domain ${d}`).toBeGreaterThan(0)
    // Every node follows the new views (none was ignored as older than what it had seen).
    for (const n of c.nodes.values()) expect(n.topology.view().epoch).toBe(after.epoch)
    for (let i = 0; i < 40; i++) expect(await c.run(c.node('n2').store('shop').get(`k${i}`))).toEqual({ i })
    // Membership changes are still acted on: a primary crashed now is failed over.
    const key = 'k7'
    const primary = c.node('n2').state.placement(c.node('n2').state.domainOf(VS, key)).primary!
    c.crash(primary)
    const other = ['n1', 'n2', 'n3'].find((n) => n !== primary)!
    await c.run(c.node(other).store('shop').put(key, { i: 70 }))
    expect(await c.run(c.node(other).store('shop').get(key))).toEqual({ i: 70 })
  })

  it('a domain waits for an owner that has not come back, instead of serving without it', async () => {
    c = await ServiceCluster.start(['n1', 'n2', 'n3'], { replicas: 2, domainCount: 8, healDelayMs: 60_000, store: { writeTimeoutMs: 1500 } })
    const s = c.node('n1').store('shop')
    for (let i = 0; i < 40; i++) await c.run(s.put(`k${i}`, { i }))
    const view = c.service.view()
    // The whole cluster and the service go down; the service's state is lost.
    for (const n of ['n1', 'n2', 'n3']) c.crash(n)
    c.crashService()
    c.serviceState.wipe()
    const service = await c.startService()
    await c.startNode('n1')
    await c.startNode('n2')
    await c.settle(2000)
    // Domains whose listed owners include n3 wait for it; the others are served.
    const waitsForN3 = [...Array(8).keys()].filter((d) => view.owners?.[d]?.includes('n3' as never))
    expect(waitsForN3.length).toBeGreaterThan(0)
    expect(service.view().waiting).toEqual(waitsForN3)
    expect(service.waitingFor().every((w) => w.nodes.includes('n3' as never))).toBe(true)
    for (let i = 0; i < 40; i++) {
      const d = c.node('n1').state.domainOf(VS, `k${i}`)
      const got = c.run(c.node('n1').store('shop').get(`k${i}`)).then((v) => ({ v }), (e: Error) => ({ e }))
      const r = await got
      if (waitsForN3.includes(d)) expect(r).toMatchObject({ e: { name: 'NoPrimaryError' } })
      else expect(r).toEqual({ v: { i } })
    }
    await c.startNode('n3')
    await c.settle(2000)
    expect(service.view().waiting ?? []).toEqual([])
    for (let i = 0; i < 40; i++) expect(await c.run(c.node('n1').store('shop').get(`k${i}`))).toEqual({ i })
  })
})
