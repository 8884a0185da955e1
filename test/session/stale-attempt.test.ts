/**
 * A client call that gives up on one node and succeeds on another leaves its first attempt behind.
 * If that node was paused (SIGSTOP), the attempt waits in its inbox and runs when it resumes, after
 * the client has moved on: it must not then write over what the client wrote since.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { createClient } from '../../src/index.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})
const run = <T>(p: Promise<T>) => c!.run(p)

describe('a late copy of an abandoned attempt', () => {
  it('does not overwrite a later acknowledged write when a paused node resumes and forwards it', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2 })
    const client = createClient({ node: c.node('d'), virtualServer: 'shop', clientId: 'ann', serving: nodeId('a'), attemptTimeoutMs: 1000 })
    const id = await run(client.create({ v: 'created' }))
    const backup = client.token!.backups[0]!
    expect(client.token!.primary).toBe('a')
    // a dies and comes back empty; its backup took the client over. The idle client still holds
    // a token that names a first.
    c.crash('a')
    await c.settle(300)
    await c.startNode('a')
    await c.settle(300)
    // a stops: the next call waits in its inbox, then goes to the backup the token names.
    c.pause('a')
    await run(client.patch(id, [{ op: 'replace', path: ['v'], value: 'first' }]))
    expect(client.token!.primary).toBe(backup)
    await run(client.patch(id, [{ op: 'replace', path: ['v'], value: 'second' }]))
    expect(await run(client.get(id))).toEqual({ v: 'second' })
    // a goes on, finds the abandoned 'first' in its inbox, and passes it to the client's primary.
    c.resume('a')
    await c.settle(1000)
    expect(await run(client.get(id))).toEqual({ v: 'second' })
  })

  it('is told apart from a client object that has not seen the newest token: that one is given it and goes through', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const first = createClient({ node: c.node('c'), virtualServer: 'shop', clientId: 'ben', serving: nodeId('a') })
    const id = await run(first.create({ v: 1 }))
    const old = first.token!
    await run(first.patch(id, [{ op: 'replace', path: ['v'], value: 2 }]))
    expect(await run(first.get(id))).toEqual({ v: 2 }) // the primary has seen a newer token than `old`
    // A page reloaded with an older token it kept, and one that kept none.
    const withOld = createClient({ node: c.node('b'), virtualServer: 'shop', token: old })
    const withNone = createClient({ node: c.node('b'), virtualServer: 'shop', clientId: 'ben', serving: nodeId('a') })
    expect(await run(withOld.get(id))).toEqual({ v: 2 })
    await run(withNone.patch(id, [{ op: 'replace', path: ['v'], value: 3 }]))
    expect(await run(first.get(id))).toEqual({ v: 3 })
  })
})
