/**
 * Sessions live in memory, so their copies must be whole again soon after a node fails, without
 * waiting for the client to call; and a primary that is cut off must not answer writes alone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import { createClient } from '../../src/index.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})
const run = <T>(p: Promise<T>) => c!.run(p)

/** Nodes holding the session, by role. */
function roles(vs: string, sessionId: string): { primary: NodeId[]; backup: NodeId[] } {
  const out = { primary: [] as NodeId[], backup: [] as NodeId[] }
  for (const n of c!.nodes.values()) {
    const rec = n.sessionTable?.get(vs, sessionId)
    if (rec) out[n.sessionTable!.client(vs, rec.clientId)!.role].push(n.nodeId)
  }
  return out
}

describe('session recovery', () => {
  it('a backup takes over as soon as the view shows the primary down, before the client calls', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const client = createClient({ node: c.node('d'), virtualServer: 'shop', clientId: 'bob', serving: nodeId('a') })
    const id = await run(client.create({ cart: ['tea'] }))
    const backup = client.token!.backups[0]!
    c.crash('a')
    await c.settle(300)
    const r = roles('shop', id)
    expect(r.primary).toEqual([backup])
    expect(r.backup).toHaveLength(1) // a new copy elsewhere: two copies again
    expect(r.backup[0]).not.toBe('a')
  })

  it('primary dies, restarts empty, then the other copy dies: the session survives', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const creator = createClient({ node: c.node('d'), virtualServer: 'shop', clientId: 'bob', serving: nodeId('a') })
    const id = await run(creator.create({ n: 1 }))
    await run(creator.patch(id, [{ op: 'replace', path: ['n'], value: 2 }]))
    const first = creator.token!.backups[0]!
    // The client carries on from a node that neither crash takes down.
    const home = ['b', 'c', 'd'].find((n) => n !== first)!
    const client = createClient({ node: c.node(home), virtualServer: 'shop', token: creator.token! })
    c.crash('a')
    await c.settle(300)
    await c.startNode('a')
    await c.settle(300)
    c.crash(first)
    await c.settle(300)
    expect(await run(client.get(id))).toEqual({ n: 2 })
  })

  it('a primary cut off from every other node refuses writes instead of keeping the only copy', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const client = createClient({ node: c.node('a'), virtualServer: 'shop', clientId: 'eve', serving: nodeId('a') })
    const id = await run(client.create({ v: 'before' }))
    c.net.partition([nodeId('a')], [nodeId('b'), nodeId('c')])
    const err = await run(client.patch(id, [{ op: 'replace', path: ['v'], value: 'alone' }]).catch((e: unknown) => e))
    expect(err).toMatchObject({ name: 'NotEnoughReplicasError', message: expect.stringMatching(/needs 1 backup\(s\) but only 0 could be reached/) })
    c.net.heal()
    await c.settle(500)
    expect(await run(client.get(id))).toEqual({ v: 'before' })
  })

  it('a replaced primary steps down when a backup refuses its older epoch', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const onA = createClient({ node: c.node('a'), virtualServer: 'shop', clientId: 'kim', serving: nodeId('a') })
    const id = await run(onA.create({ v: 1 }))
    const backup = onA.token!.backups[0]!
    // The others cannot reach a; the client, now on c, comes to a backup with its token, which takes over.
    const onC = createClient({ node: c.node('c'), virtualServer: 'shop', token: onA.token! })
    c.net.partition([nodeId('a')], [nodeId('b'), nodeId('c')])
    await run(onC.patch(id, [{ op: 'replace', path: ['v'], value: 2 }]))
    expect(onC.token!.primary).toBe(backup)
    c.net.heal()
    await c.settle(200)
    expect(roles('shop', id).primary.sort()).toEqual(['a', backup].sort()) // a does not know yet
    // a's next write is refused by a node that follows the newer primary: a steps down, and the
    // client on a is sent on to the new primary, which has the newer data.
    await run(onA.patch(id, [{ op: 'replace', path: ['v'], value: 3 }]))
    expect(onA.token!.primary).toBe(backup)
    expect(roles('shop', id).primary).toEqual([backup])
    expect(await run(onC.get(id))).toEqual({ v: 3 })
  })

  it('a primary replaced while cut off does not carry on with a backup that restarted empty', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const onA = createClient({ node: c.node('a'), virtualServer: 'shop', clientId: 'max', serving: nodeId('a') })
    const id = await run(onA.create({ v: 1 }))
    const first = onA.token!.backups[0]!
    const home = ['b', 'c', 'd'].find((n) => n !== first)!
    const onHome = createClient({ node: c.node(home), virtualServer: 'shop', token: onA.token! })
    // a is cut off; the backup takes over with the client's token and copies to a new backup.
    c.net.partition([nodeId('a')], ['b', 'c', 'd'].map(nodeId))
    await run(onHome.patch(id, [{ op: 'replace', path: ['v'], value: 2 }]))
    expect(onHome.token!.primary).toBe(first)
    // The new primary dies and comes back empty: it no longer remembers that it replaced a. The
    // newer line lives on in its backup.
    c.crash(first)
    await c.settle(300)
    await c.startNode(first)
    await c.settle(300)
    c.net.heal()
    // a still thinks it leads with `first` as its backup. Whatever a's write answers, it must not
    // be acknowledged on a copy that the newer line then overwrites.
    const wrote = await run(onA.patch(id, [{ op: 'replace', path: ['v'], value: 3 }]).then(() => true, () => false))
    await c.settle(2000)
    expect(await run(onHome.get(id))).toEqual({ v: wrote ? 3 : 2 })
    expect(roles('shop', id).primary).toHaveLength(1)
  })

  it('a token kept from an earlier client object reaches the same sessions', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const before = createClient({ node: c.node('c'), virtualServer: 'shop', clientId: 'liu', serving: nodeId('a') })
    const id = await run(before.create({ page: 1 }))
    c.crash('a')
    await c.settle(300)
    const after = createClient({ node: c.node('c'), virtualServer: 'shop', token: before.token! })
    expect(after.clientId).toBe('liu')
    expect(await run(after.get(id))).toEqual({ page: 1 })
  })

  it('a primary that lacks a session asks the others first, and says "not found" only when sure', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const client = createClient({ node: c.node('d'), virtualServer: 'shop', clientId: 'ola', serving: nodeId('a') })
    const id = await run(client.create({ n: 1 }))
    const backup = client.token!.backups[0]!
    // The primary loses its copy (as if it had come from another line still on its way).
    c.node('a').sessionTable!.delete('shop', id)
    expect(await run(client.get(id))).toEqual({ n: 1 }) // pulled from the backup
    c.node('a').sessionTable!.delete('shop', id)
    c.node(backup).sessionTable!.delete('shop', id)
    const other = ['b', 'c'].find((n) => n !== backup)! // neither the backup nor the client's node
    c.net.partition([nodeId('a')], [nodeId(other)])
    const err = await run(client.get(id).catch((e: unknown) => e))
    // The node it cannot ask might hold the session: no certain 'not found'.
    expect(err).toMatchObject({ name: 'SessionUnconfirmedError' })
    c.net.heal()
    await c.settle(100)
    await expect(run(client.get(id))).rejects.toMatchObject({ name: 'SessionNotFoundError' })
  })
})
