/**
 * `node.ready()`: once it resolves, this node's domains have their replicas, so a write is
 * acknowledged by every copy; and the public in-memory cluster (domainmesh/testing) waits for it.
 */
import { describe, expect, it } from 'vitest'
import { ClosedError, TimeoutError } from '../../src/errors.js'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { startMemoryCluster } from '../../src/testing.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { FakeClock } from '../../src/util/clock.js'

describe('node.ready()', () => {
  it('after ready on every node, writes from each node to keys in every domain are acknowledged by all replicas', async () => {
    const cluster = await startMemoryCluster({ nodes: ['a', 'b', 'c'], replicas: 3, domainCount: 8 })
    try {
      for (const name of ['a', 'b', 'c']) {
        const store = cluster.node(name).store('app')
        for (let i = 0; i < 24; i++) expect((await store.put(`${name}:${i}`, { i })).replicas).toBe(3)
      }
      expect(await cluster.node('b').store('app').get('a:5')).toEqual({ i: 5 })
    } finally {
      await cluster.close()
    }
  })

  it('a node that joins later: addNode resolves once it and the others count it', async () => {
    const cluster = await startMemoryCluster({ nodes: ['a'], replicas: 2, domainCount: 4 })
    try {
      // One member: its domains have every replica the cluster can give them.
      expect((await cluster.node('a').store('app').put('k0', 0)).replicas).toBe(1)
      await cluster.addNode('b')
      for (let i = 0; i < 12; i++) expect((await cluster.node('a').store('app').put(`k${i}`, i)).replicas).toBe(2)
    } finally {
      await cluster.close()
    }
  })

  it('times out with a TimeoutError while the view lacks the members asked for, and ends with ClosedError on close', async () => {
    const clock = new FakeClock()
    const net = new MemoryNetwork({ clock })
    const node = new MeshNode({ clusterId: clusterId('c'), nodeId: nodeId('solo'), clock, transport: net.createTransport(), storage: new MemoryStorage() })
    await node.start()
    const timedOut = node.ready({ members: 2, timeoutMs: 100 })
    const caught = timedOut.catch((e: unknown) => e)
    await clock.advance(200)
    expect(await caught).toBeInstanceOf(TimeoutError)
    const closing = node.ready({ members: 2 }).catch((e: unknown) => e)
    await node.close()
    await clock.advance(50)
    expect(await closing).toBeInstanceOf(ClosedError)
  })
})
