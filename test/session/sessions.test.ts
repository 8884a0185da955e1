import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import type { SessionClient } from '../../src/session/client.js'
import { signToken } from '../../src/session/token.js'
import { createClient } from '../../src/index.js'
import { SECRET, ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** Which nodes hold a copy of a session, and in which role. */
function holders(cl: ServiceCluster, vs: string, sessionId: string): { primary: NodeId[]; backup: NodeId[] } {
  const out = { primary: [] as NodeId[], backup: [] as NodeId[] }
  for (const n of cl.nodes.values()) {
    const rec = n.sessionTable?.get(vs, sessionId)
    if (!rec) continue
    const role = n.sessionTable!.client(vs, rec.clientId)!.role
    out[role].push(n.nodeId)
  }
  return out
}

/** The last node runs the client; the client asks node a to serve it. */
async function setup(names = ['a', 'b', 'c', 'd', 'e'], replicas = 3) {
  c = await ServiceCluster.start(names, { replicas })
  const client = createClient({ node: c.node(names[names.length - 1]!), virtualServer: 'shop', clientId: 'alice', serving: nodeId('a') })
  return { c, client }
}

const run = <T>(p: Promise<T>) => c!.run(p)

describe('sessions', () => {
  it('create, read, patch sub-elements, update and destroy, with a token in every answer', async () => {
    const { client } = await setup()
    const id = await run(client.create({ cart: [] as string[], user: { name: 'Ada' } }))
    expect(client.token).toMatchObject({ clientId: 'alice', vs: 'shop', primary: 'a' })
    expect(client.token!.backups).toHaveLength(2)
    await run(client.patch(id, [{ op: 'replace', path: ['user', 'name'], value: 'Grace' }]))
    await run(client.update<{ cart: string[] }>(id, (d) => void d.cart.push('apple')))
    expect(await run(client.get(id))).toEqual({ cart: ['apple'], user: { name: 'Grace' } })
    expect(await run(client.get(id, ['user', 'name']))).toBe('Grace')
    await expect(run(client.get(id, ['nope']))).rejects.toMatchObject({ name: 'PathNotFoundError' })
    await expect(run(client.patch(id, [{ op: 'add', path: ['__proto__', 'x'], value: 1 }]))).rejects.toMatchObject({ name: 'ForbiddenPathError' })
    await run(client.destroy(id))
    await expect(run(client.get(id))).rejects.toMatchObject({ name: 'SessionNotFoundError' })
  })

  it('the primary replicates every write into the backups before it answers', async () => {
    const { c, client } = await setup()
    const id = await run(client.create({ n: 0 }))
    await run(client.patch(id, [{ op: 'replace', path: ['n'], value: 7 }]))
    const h = holders(c, 'shop', id)
    expect(h.primary).toEqual(['a'])
    expect(h.backup.sort()).toEqual([...client.token!.backups].sort())
    for (const b of h.backup) expect(c.nodes.get(b)!.sessionTable!.get('shop', id)!.obj.value).toEqual({ n: 7 })
  })

  it('colocation: every later session of a client lands on the backups of its first', async () => {
    const { c, client } = await setup(['a', 'b', 'c', 'd', 'e', 'f'], 3)
    const first = await run(client.create({ i: 0 }))
    const backups = holders(c, 'shop', first).backup.sort()
    for (let i = 1; i < 6; i++) {
      const id = await run(client.create({ i }))
      expect(holders(c, 'shop', id).backup.sort()).toEqual(backups)
    }
    // Another client gets its own, independently chosen backups (on the same primary here).
    const bob = c.node('e').sessions({ virtualServer: 'shop', clientId: 'bob', serving: nodeId('a') })
    await run(bob.create({}))
    expect(bob.token!.primary).toBe('a')
  })

  it('when a backup dies it is replaced for all of the client\'s sessions together', async () => {
    const { c, client } = await setup(['a', 'b', 'c', 'd', 'e'], 3)
    const ids = [await run(client.create({ i: 1 })), await run(client.create({ i: 2 })), await run(client.create({ i: 3 }))]
    const dead = client.token!.backups.find((b) => b !== 'e')! // not the node the client runs on
    c.crash(dead)
    await c.settle(200)
    const after = holders(c, 'shop', ids[0]!).backup.sort()
    expect(after).not.toContain(dead)
    expect(after).toHaveLength(2)
    for (const id of ids) expect(holders(c, 'shop', id).backup.sort()).toEqual(after)
    // The next answer carries the new backups.
    await run(client.get(ids[0]!))
    expect([...client.token!.backups].sort()).toEqual(after)
  })

  it('kill the primary: the next call on each session succeeds via a backup, with its latest data and a new token', async () => {
    const { c, client } = await setup()
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push(await run(client.create({ i, step: 0 })))
    for (const id of ids) await run(client.patch(id, [{ op: 'replace', path: ['step'], value: 1 }]))
    const old = client.token!
    c.crash('a')
    for (const [i, id] of ids.entries()) expect(await run(client.get(id))).toEqual({ i, step: 1 })
    expect(client.token!.primary).not.toBe('a')
    expect(old.backups).toContain(client.token!.primary) // the recovery server came from the token
    expect(client.token!.epoch).toBeGreaterThan(old.epoch)
    expect(client.token!.backups).not.toContain('a')
    expect(client.lastFailover).toEqual([])
    // And the new primary keeps serving writes, replicated to its new colocated backups.
    await run(client.patch(ids[0]!, [{ op: 'replace', path: ['step'], value: 2 }]))
    for (const b of client.token!.backups) expect(c.nodes.get(b)!.sessionTable!.get('shop', ids[0]!)!.obj.value).toEqual({ i: 0, step: 2 })
  })

  it('a token naming only dead nodes gives a clear error', async () => {
    const { c, client } = await setup(['a', 'b', 'c', 'd'], 2)
    const id = await run(client.create({ x: 1 }))
    const named = [client.token!.primary, ...client.token!.backups]
    for (const n of named) if (n !== 'd') c.crash(n)
    if (named.includes(nodeId('d'))) return // the client's own node is a backup here: nothing to prove
    await c.settle(100)
    const err = await run(client.get(id).catch((e: unknown) => e))
    expect(err).toMatchObject({ name: 'NoLiveReplicaError' })
    expect((err as Error).message).toMatch(new RegExp(`none of the nodes in its failover token is reachable \\(${named.join(', ')}`))
  })

  it('refuses a forged or altered token', async () => {
    const { client } = await setup()
    const id = await run(client.create({ secret: 'mine' }))
    const real = client.token!
    const attempt = async (token: unknown) => {
      ;(client as unknown as { token: unknown }).token = token
      return run(client.get(id).catch((e: unknown) => e))
    }
    // Altered: claims another client's backups would serve it.
    expect(await attempt({ ...real, clientId: 'mallory' })).toMatchObject({ name: 'InvalidTokenError', message: expect.stringMatching(/bad signature/) })
    expect(await attempt({ ...real, epoch: real.epoch + 5 })).toMatchObject({ name: 'InvalidTokenError' })
    // Forged: signed with a guessed secret.
    const forged = await signToken('not-the-secret', { clientId: 'alice', vs: 'shop', primary: real.primary, backups: real.backups, epoch: 99 })
    expect(await attempt(forged)).toMatchObject({ name: 'InvalidTokenError' })
    const e = c!.node('e')
    const raw = await run(e.request(e.address('x'), { clusterId: e.clusterId, nodeId: nodeId('b'), engineId: 'session' as never, virtualServerId: 'shop' as never }, 'get', { vs: 'shop', sessionId: id, token: { nonsense: true } }).catch((x: unknown) => x))
    expect(raw).toMatchObject({ name: 'InvalidTokenError', message: expect.stringMatching(/malformed/) })
    // The real one still works, and the cluster's secret is what signs it.
    expect(await attempt(real)).toEqual({ secret: 'mine' })
    expect((await signToken(SECRET, { ...real })).sig).toBe(real.sig)
  })

  it('sessions of one virtual server are invisible to another', async () => {
    const { c, client } = await setup()
    const id = await run(client.create({ shop: true }))
    const blog = c.node('e').sessions({ virtualServer: 'blog', clientId: 'alice', serving: nodeId('a') })
    await expect(run(blog.get(id))).rejects.toMatchObject({ name: 'VirtualServerMismatchError' })
    ;(blog as unknown as { token: unknown }).token = client.token // a shop token on the blog server
    await expect(run(blog.get(id))).rejects.toMatchObject({ name: 'VirtualServerMismatchError' })
    expect(await run(client.get(id))).toEqual({ shop: true })
  })

  it('sessions expire after their TTL on the primary and on the backups', async () => {
    const { c, client } = await setup()
    const id = await run(client.create({ short: true }, { ttlMs: 5000 }))
    await c.settle(3000)
    expect(await run(client.get(id))).toEqual({ short: true })
    await c.settle(3000)
    await expect(run(client.get(id))).rejects.toMatchObject({ name: 'SessionNotFoundError' })
    for (const n of c.nodes.values()) expect(n.sessionTable!.get('shop', id)).toBeUndefined()
  })
})

export type { SessionClient }
