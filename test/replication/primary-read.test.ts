/**
 * A read on the primary answers only committed data: it waits for the write it would see, and
 * then answers what it saw, not writes the primary applied while it waited (those may never commit).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { StoreCluster } from '../helpers/store-cluster.js'
import { carriesAck } from '../sim/frames.js'

const VS = virtualServerId('shop')
let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('primary read', () => {
  it('answers the write it waited for, not a later one that never commits', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const cl = c
    const a = cl.node('a')
    // A key a leads with b as its only backup; c is a client that holds no copy.
    const key = [...Array(500).keys()].map((i) => `r${i}`).find((k) => {
      const p = a.state.placement(a.state.domainOf(VS, k))
      return p.primary === 'a' && p.backups.length === 1 && p.backups[0] === nodeId('b')
    })!
    const client = cl.node('c').store('shop')
    await cl.run(client.put(key, { n: 0 }))
    // b's acks are held: the next write is applied on both copies but not committed yet.
    let holdFromA = false
    cl.net.setTap((from, to, bytes) => ((from === 'b' && to === 'a' && carriesAck(from, to, bytes)) || (holdFromA && from === 'a' && to === 'b') ? 'hold' : undefined))
    const one = client.patch(key, [{ op: 'replace', path: ['n'], value: 1 }])
    await cl.settle(20)
    // The read waits on a for n = 1 to commit.
    const read = client.get<{ n: number }>(key)
    await cl.settle(20)
    // a applies n = 2, which b never receives: it cannot commit while b is a backup.
    holdFromA = true
    const two = client.patch(key, [{ op: 'replace', path: ['n'], value: 2 }]).catch((e: unknown) => e)
    await cl.settle(20)
    // b's ack of n = 1 arrives: n = 1 commits, and the read answers.
    cl.net.release(nodeId('b'), nodeId('a'))
    const seen = await cl.run(read)
    await cl.run(one)
    // a is replaced; b, which never had n = 2, takes over.
    cl.net.setTap(undefined)
    await cl.publish({ remove: ['a'] })
    const after = await cl.run(cl.node('b').store('shop').get<{ n: number }>(key))
    expect(after).toEqual({ n: 1 })
    // What the read answered is what the cluster holds: never a write that was not committed.
    expect(seen).toEqual({ n: 1 })
    await cl.run(two)
  })
})
