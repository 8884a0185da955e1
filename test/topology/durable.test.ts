/**
 * Durable members (Node peers on files) and ephemeral ones (browser tabs): every domain keeps a
 * copy on a durable member, and a tab never leads what a durable owner can lead. Nodes join a
 * real TopologyService over the memory transport, on a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { FileStorage } from '../../src/storage/files.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { CLUSTER } from '../helpers/cluster.js'
import { ServiceCluster } from '../helpers/service-cluster.js'
import { inTempDir } from '../helpers/temp-dir.js'

const VS = virtualServerId('shop')
const DURABLE = ['n1', 'n2']
const TABS = ['tab-1', 'tab-2', 'tab-3']
const KEYS = 300

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** Reads every key through `reader`; returns the keys whose answer was not their value, with what came back. */
async function misreads(cl: ServiceCluster, reader: string, acked: Map<string, unknown>): Promise<string[]> {
  const store = cl.node(reader).store(VS)
  const bad: string[] = []
  for (const [key, value] of acked) {
    const got = await cl.run(store.get(key)).catch((e: Error) => `error ${e.name}`)
    if (JSON.stringify(got) !== JSON.stringify(value)) bad.push(`${key}: ${got === undefined ? 'undefined' : JSON.stringify(got)}`)
  }
  return bad
}

describe('durable and ephemeral members', () => {
  it('a node on files is durable by default; IndexedDB and memory only when told', async () => {
    const make = (storage: MeshNode['storage'], durable?: boolean) =>
      new MeshNode({ clusterId: CLUSTER, transport: new MemoryNetwork().createTransport(), storage, ...(durable !== undefined ? { durable } : {}) })
    await inTempDir('dm-durable-', async (dir) => {
      const files = await FileStorage.open(dir)
      try {
        expect(make(files).durable).toBe(true)
        expect(make(files, false).durable).toBe(false)
      } finally {
        await files.close()
      }
    })
    expect(make(new MemoryStorage()).durable).toBe(false)
    expect(make(new MemoryStorage(), true).durable).toBe(true)
  })

  it('the service publishes who is durable, and every domain has a durable owner that leads it', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: 16 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    for (const t of TABS) await c.startNode(t)
    await c.settleHealing()
    const view = c.service.view()
    expect(view.members.filter((m) => m.durable).map((m) => m.nodeId).sort()).toEqual(DURABLE)
    // Every node sees the flags (they travel in the views) and computes the same roles.
    const tab = c.node('tab-1').state
    for (let d = 0; d < 16; d++) {
      const roles = tab.placement(d)
      expect(roles.owners.some((o) => DURABLE.includes(o))).toBe(true)
      expect(DURABLE).toContain(roles.primary)
      expect(c.node('n1').state.placement(d).primary).toBe(roles.primary)
    }
  })

  it('closing every tab at once loses nothing; tabs reopening before the Node peers never read as absent', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    for (const t of TABS) await c.startNode(t)
    await c.settleHealing()

    // Written through a tab, as the demo does.
    const acked = new Map<string, unknown>()
    const writer = c.node('tab-1').store(VS)
    for (let i = 0; i < KEYS; i++) {
      const value = { i, note: `written by tab-1 #${i}` }
      await c.run(writer.put(`k${i}`, value))
      acked.set(`k${i}`, value)
    }

    // Every tab closes at once (a crash: no leave), while the Node peers run on.
    for (const t of TABS) c.crash(t)
    await c.settle(100)
    expect(await misreads(c, 'n1', acked)).toEqual([])
    // The tabs stay away: after the heal delay their domains are copied to the Node peers.
    await c.settle(6000)
    await c.settleHealing()
    expect(await misreads(c, 'n2', acked)).toEqual([])

    // Then the Node peers stop too, and the tabs come back first, on their old IndexedDB copies.
    for (const n of DURABLE) c.crash(n)
    await c.settle(100)
    for (const t of TABS) await c.startNode(t)
    await c.settle(500)
    // No tab may answer for a domain whose data sits on the Node peers' disks.
    const early = c.node('tab-2').store(VS)
    const pending = [...acked.keys()].slice(0, 40).map((key) => early.get(key).then((v) => ({ key, v }), (e: Error) => ({ key, error: e.name })))
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    const answers = await c.run(Promise.all(pending))
    for (const a of answers) if ('v' in a) expect(a.v, `${a.key} answered while the Node peers were away`).toEqual(acked.get(a.key))
    await c.settleHealing()
    for (const reader of ['tab-3', 'n1']) expect(await misreads(c, reader, acked)).toEqual([])
    for (let d = 0; d < 16; d++) expect(DURABLE).toContain(c.node('tab-3').state.placement(d).primary)
  })

  it('tabs back before the Node peers lead only until a Node peer owns the domain again; nothing written meanwhile is lost', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    for (const t of TABS) await c.startNode(t)
    await c.settleHealing()
    const acked = new Map<string, unknown>()
    const first = c.node('tab-1').store(VS)
    for (let i = 0; i < KEYS; i++) {
      await c.run(first.put(`k${i}`, { i, round: 1 }))
      acked.set(`k${i}`, { i, round: 1 })
    }

    // Everything stops, tabs first; all come back within the heal delay, the tabs first again.
    for (const t of TABS) c.crash(t)
    await c.settle(100)
    for (const n of DURABLE) c.crash(n)
    await c.settle(100)
    for (const t of TABS) await c.startNode(t)
    await c.settle(500)

    // A tab that owns a domain leads it while the Node peers are away, and takes writes.
    const tab = c.node('tab-2')
    const led = new Set<number>()
    for (let d = 0; d < 16; d++) {
      const primary = tab.state.placement(d).primary
      if (primary !== undefined) {
        expect(TABS).toContain(primary)
        led.add(d)
      }
    }
    expect(led.size).toBeGreaterThan(0)
    const second = tab.store(VS)
    for (const key of acked.keys()) {
      if (!led.has(tab.state.domainOf(VS, key))) continue
      const value = { round: 2, key }
      await c.run(second.put(key, value))
      acked.set(key, value)
    }

    // The Node peers come back, catch up, then lead every domain again.
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    await c.settleHealing()
    for (let d = 0; d < 16; d++) expect(DURABLE).toContain(c.node('tab-3').state.placement(d).primary)
    for (const reader of ['tab-3', 'n2']) expect(await misreads(c, reader, acked)).toEqual([])
    // Every tab can close now: the Node peers hold all of it.
    for (const t of TABS) c.crash(t)
    await c.settle(100)
    expect(await misreads(c, 'n1', acked)).toEqual([])
  })
  /** Node peers away past the heal delay: tab-1 alone holds the domains it owned, and takes 100 writes there. */
  async function tabAlone(): Promise<{ tab: MeshNode; led: number[]; acked: Map<string, unknown> }> {
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    await c.startNode('tab-1')
    await c.settleHealing()
    for (const n of DURABLE) c.crash(n)
    await c.settle(6000)
    const tab = c.node('tab-1')
    const led = [...Array(16).keys()].filter((d) => tab.state.placement(d).primary === 'tab-1')
    expect(led.length).toBeGreaterThan(0)
    const acked = new Map<string, unknown>()
    const store = tab.store(VS)
    for (let i = 0; acked.size < 100; i++) {
      if (!led.includes(tab.state.domainOf(VS, `k${i}`))) continue
      await c.run(store.put(`k${i}`, { i }))
      acked.set(`k${i}`, { i })
    }
    return { tab, led, acked }
  }

  /**
   * tab-1 alone holds the domains it led; its user closes it. It must not have closed 2 s later,
   * nor before `release` lets a Node peer take the copies; then every write it acknowledged reads
   * back through n1.
   */
  async function closeWhileAlone(tab: MeshNode, led: number[], acked: Map<string, unknown>, release: () => Promise<void>): Promise<void> {
    const cl = c!
    expect(led.every((d) => tab.state.placement(d).owners.join() === 'tab-1')).toBe(true)
    let closed = false
    const closing = tab.close().then(() => (closed = true))
    await cl.settle(2000)
    expect(closed, 'the tab closed while it alone held acknowledged writes').toBe(false)
    await release()
    await cl.run(closing)
    await cl.settle(100)
    expect(await misreads(cl, 'n1', acked)).toEqual([])
  }

  it('a tab that leads while its domain\'s Node peer is down commits only what a durable member holds; then the tab closes for good', async () => {
    // Fault seed 7400: a tab took over a domain whose only durable owner was (seen as) down,
    // reported that owner lagging (dropped: the tab became the only owner), acknowledged writes
    // alone, and closed. The domain never had a primary again, and those writes were on no disk.
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    for (const t of ['tab-1', 'tab-2']) await c.startNode(t)
    await c.settleHealing()
    // A domain held by n1 and a tab.
    const roles = [...Array(16).keys()].map((d) => c!.node('n2').state.placement(d))
    const target = roles.find((r) => r.primary === 'n1' && r.owners.length === 2 && r.owners.some((o) => o.startsWith('tab-')))
    expect(target, 'a domain owned by n1 and a tab').toBeDefined()
    const d = target!.domain
    const tab = target!.owners.find((o) => o.startsWith('tab-'))!

    // n1 dies; writes to d go on through the tab at once, while the view still lists n1 (not
    // yet past the heal delay): the tab leads d until a durable member holds it.
    c.crash('n1')
    const acked = new Map<string, unknown>()
    const store = c.node(tab).store(VS)
    for (let i = 0; acked.size < 40; i++) {
      if (c.node(tab).state.domainOf(VS, `k${i}`) !== d) continue
      await c.run(store.put(`k${i}`, { i, by: tab }))
      acked.set(`k${i}`, { i, by: tab })
    }
    expect(c.node(tab).state.placement(d).replicas[0]).toBe('n1')
    // n2, the durable member that is up, holds the domain: the stand-in the tab copied it to.
    expect(c.node('n2').state.placement(d).owners).toContain('n2')

    // The tab closes for good; its copy goes with it.
    c.crash(tab)
    await c.settle(1000)
    expect(c.node('n2').state.placement(d).primary).toBe('n2')
    expect(await misreads(c, 'n2', acked)).toEqual([])
    // n1 comes back on its old disk: it catches up, and nothing reads as absent through it either.
    await c.startNode('n1', { durable: true })
    await c.settleHealing()
    expect(await misreads(c, 'n1', acked)).toEqual([])
  })

  it('a tab that cannot reach a durable member acknowledges nothing while one is up', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of DURABLE) await c.startNode(n, { durable: true })
    await c.startNode('tab-1')
    await c.settleHealing()
    const d = [...Array(16).keys()].find((x) => c!.node('n2').state.placement(x).owners.join() === 'n1,tab-1')
    expect(d, 'a domain owned by n1 and tab-1').toBeDefined()
    const key = [...Array(1000).keys()].map((i) => `k${i}`).find((k) => c!.node('tab-1').state.domainOf(VS, k) === d)!
    // n1 dies and the tab's link to n2 is cut: the tab leads d, and no durable member can get its writes.
    c.net.partition([nodeId('tab-1')], [nodeId('n2')])
    c.crash('n1')
    await c.settle(4000)
    expect(c.node('tab-1').state.placement(d!).primary).toBe('tab-1')
    let answered: unknown
    const put = c.node('tab-1').store(VS).put(key, { v: 1 }).then((r) => (answered = r), (e: Error) => (answered = e))
    await c.settle(2000)
    expect(answered, 'acknowledged with no durable member holding it').toBeUndefined()
    // Past the heal delay n1 leaves the view, yet stays listed as owner: without it, only the tab
    // would be, and the domain would have no owner left if the tab closed now.
    await c.settle(4000)
    expect(c.node('n2').state.placement(d!).owners).toContain('n1')
    expect(answered, 'acknowledged with no durable member holding it').toBeUndefined()
    // The link comes back: the tab copies d to n2, and the write is acknowledged then.
    c.net.heal()
    await c.run(put)
    expect(answered).not.toBeInstanceOf(Error)
    expect(await misreads(c, 'n2', new Map([[key, { v: 1 }]]))).toEqual([])
  })

  it('a tab that alone holds a domain hands it to a Node peer before it closes, so nothing it acknowledged waits for it', async () => {
    const { tab, led, acked } = await tabAlone()
    const cl = c!
    // A Node peer comes back, but the tab cannot reach it yet (its link still forming), and the
    // tab's user closes it meanwhile.
    cl.net.partition([nodeId('tab-1')], [nodeId('n1')])
    await cl.startNode('n1', { durable: true })
    await closeWhileAlone(tab, led, acked, async () => cl.net.heal())
  })

  it('a tab that alone holds a domain waits for the Node peers the view shows down to come back before it closes', async () => {
    const { tab, led, acked } = await tabAlone()
    const cl = c!
    // The Node peers come back and go down again before they have a copy (say the topology
    // service restarted and they have not said hello again yet): the tab's user closes it then.
    cl.net.partition([nodeId('tab-1')], DURABLE.map((n) => nodeId(n)))
    for (const n of DURABLE) await cl.startNode(n, { durable: true })
    for (const n of DURABLE) cl.crash(n)
    await cl.settle(100)
    await closeWhileAlone(tab, led, acked, async () => {
      cl.net.heal()
      for (const n of DURABLE) await cl.startNode(n, { durable: true })
    })
  })
})
