import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import type { ChangeEvent } from '../../src/store/watch.js'
import { StoreCluster } from '../helpers/store-cluster.js'

const VS = virtualServerId('shop')
let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** The replica set of `key`'s domain as node `from` sees it. */
function replicasOf(cl: StoreCluster, key: string, from = 'a') {
  const n = cl.node(from)
  return n.state.placement(n.state.domainOf(VS, key))
}

describe('replicated store', () => {
  it('puts reach exactly the domain replicas, and the ack says how many hold it', async () => {
    c = await StoreCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const ack = await c.node('c').store('shop').put('cart:1', { items: [], total: 0 })
    expect(ack).toMatchObject({ seq: 1, replicas: 2 })
    await c.settle()
    const { replicas } = replicasOf(c, 'cart:1')
    for (const name of ['a', 'b', 'c', 'd']) {
      const local = c.node(name).state.readLocal(VS, 'cart:1')
      expect(local.held).toBe(replicas.includes(nodeId(name)))
      if (local.held) expect(local.obj?.value).toEqual({ items: [], total: 0 })
    }
  })

  it('every node reads what was acknowledged, from any node', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
    for (let i = 0; i < 30; i++) await c.node(['a', 'b', 'c'][i % 3]!).store('shop').put(`k${i}`, { i })
    for (const reader of ['a', 'b', 'c']) for (let i = 0; i < 30; i++) expect(await c.node(reader).store('shop').get(`k${i}`)).toEqual({ i })
    expect(await c.node('a').store('shop').get('missing')).toBeUndefined()
  })

  it('keeps virtual servers apart', async () => {
    c = await StoreCluster.start(['a', 'b'])
    await c.node('a').store('shop').put('same-key', 'shop value')
    await c.node('a').store('blog').put('same-key', 'blog value')
    expect(await c.node('b').store('shop').get('same-key')).toBe('shop value')
    expect(await c.node('b').store('blog').get('same-key')).toBe('blog value')
    expect(await c.node('b').store('wiki').get('same-key')).toBeUndefined()
  })

  it('patch and update change one sub-element; delete removes the object', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'])
    const s = c.node('b').store('shop')
    await s.put('user:1', { name: 'Ada', tags: ['x'], address: { city: 'Paris' } })
    await s.patch('user:1', [{ op: 'replace', path: ['address', 'city'], value: 'Lyon' }])
    await s.update<{ tags: string[] }>('user:1', (d) => void d.tags.push('y'))
    expect(await c.node('c').store('shop').get('user:1')).toEqual({ name: 'Ada', tags: ['x', 'y'], address: { city: 'Lyon' } })
    expect(await s.get('user:1', { path: ['address', 'city'] })).toBe('Lyon')
    await s.delete('user:1')
    expect(await c.node('a').store('shop').get('user:1')).toBeUndefined()
  })

  it('concurrent patches to disjoint paths of one object both survive', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'])
    await c.node('a').store('shop').put('doc', { title: 't', body: 'b', meta: { likes: 0 } })
    const writers = ['a', 'b', 'c'].map((n) => c!.node(n).store('shop'))
    await Promise.all([
      writers[0]!.update<{ title: string }>('doc', (d) => void (d.title = 'T1')),
      writers[1]!.update<{ body: string }>('doc', (d) => void (d.body = 'B2')),
      writers[2]!.patch('doc', [{ op: 'replace', path: ['meta', 'likes'], value: 5 }]),
    ])
    expect(await writers[1]!.get('doc')).toEqual({ title: 'T1', body: 'B2', meta: { likes: 5 } })
  })

  it('compare-and-set: a stale version is refused with CasConflictError, and update retries to a correct count', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'])
    const s = c.node('a').store('shop')
    const first = await s.put('counter', { n: 0, other: 0 })
    await s.patch('counter', [{ op: 'replace', path: ['n'], value: 1 }], { ifVersion: first.version })
    const err = await s.patch('counter', [{ op: 'replace', path: ['n'], value: 99 }], { ifVersion: first.version }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'CasConflictError', code: 'CAS_CONFLICT', details: { path: ['n'], expected: first.version } })
    // A write to another field does not disturb a compare-and-set on this one.
    await s.patch('counter', [{ op: 'replace', path: ['other'], value: 7 }], { ifVersion: first.version })
    // Create-if-absent and replace-if-unchanged on whole objects.
    await expect(s.put('counter', {}, { ifVersion: 0 })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
    await s.put('fresh', { v: 1 }, { ifVersion: 0 })
    // Thirty concurrent increments from three nodes all land.
    const incs = Array.from({ length: 30 }, (_, i) => c!.node(['a', 'b', 'c'][i % 3]!).store('shop').update<{ n: number }>('counter', (d) => void d.n++, { retries: 100 }))
    // Conflicting attempts wait a random while before the next (fake time must pass).
    await c.run(Promise.all(incs))
    expect(await s.get('counter')).toEqual({ n: 31, other: 7 })
  })

  it('reports CAS conflicts instead of retrying when told not to', async () => {
    c = await StoreCluster.start(['a', 'b'])
    const s = c.node('a').store('shop')
    await s.put('x', { n: 0 })
    const results = await Promise.allSettled([0, 1, 2].map(() => s.update<{ n: number }>('x', (d) => void d.n++, { retries: 0 })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['CAS_CONFLICT', 'CAS_CONFLICT'])
    expect(await s.get('x')).toEqual({ n: 1 })
  })

  it('a restarted cluster comes back from storage with its data and node ids', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { store: { compactBytes: 2000 } })
    for (let i = 0; i < 200; i++) await c.node('a').store('shop').put(`k${i}`, { i, pad: 'x'.repeat(300) })
    await c.node('b').store('shop').patch('k7', [{ op: 'replace', path: ['i'], value: 700 }])
    for (const n of c.nodes.values()) await n.state.flush()
    await c.close()
    const disks = c.disks
    // The log was compacted by bytes: snapshots replaced most segments.
    const stored = [...disks.values()].flatMap((d) => [...d.values()].map((e) => e.key[2]))
    expect(stored.filter((k) => k === 'snap').length).toBeGreaterThan(0)
    expect(stored.filter((k) => k === 'seg').length).toBeLessThan(200)
    const again = new StoreCluster({ store: { compactBytes: 2000 } })
    for (const [id, disk] of disks) again.disks.set(id, disk)
    for (const n of ['a', 'b', 'c']) await again.startNode(n)
    expect([...again.nodes.keys()].sort()).toEqual(['a', 'b', 'c'])
    // Before any view: each node already holds its replicas from disk.
    expect(again.node('a').state.domains().length).toBeGreaterThan(0)
    await again.publish()
    c = again
    for (let i = 0; i < 200; i++) expect(await again.node('c').store('shop').get(`k${i}`)).toEqual({ i: i === 7 ? 700 : i, pad: 'x'.repeat(300) })
  })

  it('subscribers get the patches of committed changes, on any node', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'])
    const seen: ChangeEvent[] = []
    const byPrefix: string[] = []
    const off = c.node('c').store('shop').subscribe('doc', (e) => seen.push(e))
    c.node('a').store('shop').subscribe({ prefix: 'cart:' }, (e) => byPrefix.push(e.key))
    await c.settle()
    const s = c.node('b').store('shop')
    await s.put('doc', { a: 1 })
    await s.patch('doc', [{ op: 'replace', path: ['a'], value: 2 }])
    await s.put('cart:1', 1)
    await s.put('cart:2', 2)
    await s.put('other', 3)
    await c.settle()
    expect(seen.map((e) => e.change.kind)).toEqual(['put', 'patch'])
    expect(seen[1]!.change).toEqual({ kind: 'patch', patches: [{ op: 'replace', path: ['a'], value: 2 }] })
    expect(byPrefix.sort()).toEqual(['cart:1', 'cart:2'])
    off()
    await c.settle()
    await s.put('doc', { a: 3 })
    await c.settle()
    expect(seen).toHaveLength(2)
  })

  it('a primary sends a write to the other copies before the copy of the node that wrote it', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3, domainCount: 1 })
    const order: string[] = []
    for (const n of ['a', 'b', 'c']) c.node(n).store('shop').subscribe({ prefix: 'doc' }, (e) => order.push(`${n}:${e.seq}`), { from: 'local' })
    const primary = replicasOf(c, 'doc').primary!
    // Each of the two backups writes once: whichever comes first in the primary's list, the other
    // one's copy applies first (the writer waits for the commit, which needs both copies anyway).
    const writers = ['a', 'b', 'c'].filter((n) => n !== primary)
    for (const [i, writer] of writers.entries()) {
      const ack = await c.node(writer).store('shop').put('doc', { i })
      await c.settle()
      const other = writers.find((n) => n !== writer)!
      expect(order.filter((o) => o.endsWith(`:${ack.seq}`) && !o.startsWith(primary))).toEqual([`${other}:${ack.seq}`, `${writer}:${ack.seq}`])
    }
  })

  it("subscribers with from: 'local' hear this node's copy as it applies each change, before the commit", async () => {
    c = await StoreCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const order: string[] = []
    const heard = new Map<string, ChangeEvent[]>()
    const offs = ['a', 'b', 'c', 'd'].map((n) => {
      heard.set(n, [])
      return c!.node(n).store('shop').subscribe({ prefix: 'doc' }, (e) => {
        heard.get(n)!.push(e)
        order.push(`${n} applied ${e.seq}`)
      }, { from: 'local' })
    })
    const { primary, replicas } = replicasOf(c, 'doc')
    const writer = ['a', 'b', 'c', 'd'].find((n) => !replicas.includes(nodeId(n)))!
    const s = c.node(writer).store('shop')
    await s.put('doc', { a: 1 }).then((ack) => order.push(`acked ${ack.seq}`))
    await s.patch('doc', [{ op: 'replace', path: ['a'], value: 2 }]).then((ack) => order.push(`acked ${ack.seq}`))
    await c.settle()
    const backup = replicas.find((r) => r !== primary)!
    // The backup heard each change before the writer had its acknowledgement: the ack waits for it.
    expect(order.indexOf(`${backup} applied 1`)).toBeLessThan(order.indexOf('acked 1'))
    expect(order.indexOf(`${backup} applied 2`)).toBeLessThan(order.indexOf('acked 2'))
    for (const n of ['a', 'b', 'c', 'd']) {
      const kinds = heard.get(n)!.map((e) => e.change.kind)
      // Only the two copies hear anything; the writer holds none and hears nothing.
      expect(kinds).toEqual(replicas.includes(nodeId(n)) ? ['put', 'patch'] : [])
    }
    expect(heard.get(backup)![1]!.change).toEqual({ kind: 'patch', patches: [{ op: 'replace', path: ['a'], value: 2 }] })
    for (const off of offs) off()
    await s.put('doc', { a: 3 })
    await c.settle()
    expect(heard.get(backup)).toHaveLength(2)
    expect(() => s.subscribe('doc', () => undefined, { from: 'nearest' as never })).toThrow(/invalid option subscribe from: expected 'primary' or 'local', not "nearest"/)
  })
})
