import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { loadNodeKey, NodeIdMismatchError } from '../../src/node/identity.js'
import { nodeKeyHash } from '../../src/server/node-keys.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { TopologyRefusedError } from '../../src/topology/client.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { CLUSTER } from '../helpers/cluster.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

describe('node identity', () => {
  it('is generated once, persisted, and comes back after a restart on the same storage', async () => {
    const net = new MemoryNetwork()
    const disk = new Map()
    const first = await new MeshNode({ clusterId: CLUSTER, transport: net.createTransport(), storage: new MemoryStorage(disk), clock: net.clock }).start()
    const id = first.nodeId
    expect(id).toMatch(/^n-[a-z0-9]{10}$/)
    await first.close()
    const again = await new MeshNode({ clusterId: CLUSTER, transport: net.createTransport(), storage: new MemoryStorage(disk), clock: net.clock }).start()
    expect(again.nodeId).toBe(id)
    await again.close()
  })

  it('refuses to start storage that belongs to another node', async () => {
    const net = new MemoryNetwork()
    const disk = new Map()
    const a = await new MeshNode({ clusterId: CLUSTER, nodeId: nodeId('a'), transport: net.createTransport(), storage: new MemoryStorage(disk), clock: net.clock }).start()
    await a.close()
    const b = new MeshNode({ clusterId: CLUSTER, nodeId: nodeId('b'), transport: net.createTransport(), storage: new MemoryStorage(disk), clock: net.clock })
    await expect(b.start()).rejects.toThrow(NodeIdMismatchError)
  })

  it('keeps a node key with the data; a damaged one is replaced', async () => {
    const disk = new Map()
    const k = await loadNodeKey(new MemoryStorage(disk))
    expect(k).toMatch(/^[0-9a-f]{64}$/)
    expect(await loadNodeKey(new MemoryStorage(disk))).toBe(k)
    expect(await loadNodeKey(new MemoryStorage())).not.toBe(k)
    await new MemoryStorage(disk).put(['meta', 'nodeKey'], new TextEncoder().encode('not a key'))
    const replaced = await loadNodeKey(new MemoryStorage(disk))
    expect(replaced).toMatch(/^[0-9a-f]{64}$/)
    expect(replaced).not.toBe(k)
  })

  it('shows its key to the topology service: another storage under a live id is refused, its own storage comes back', async () => {
    const c = await ServiceCluster.start(['a', 'b'])
    try {
      const key = await loadNodeKey(new MemoryStorage(c.disks.get(nodeId('a'))))
      const saved = JSON.stringify(await c.serviceState.load())
      expect(saved).toContain(nodeKeyHash(key))
      expect(saved).not.toContain(key)
      // Another process under a's id, with the cluster secret but its own storage, while a lives.
      const impostor = new MeshNode({ clusterId: CLUSTER, nodeId: nodeId('a'), transport: c.net.createTransport(), storage: new MemoryStorage(), clock: c.clock, topology: c.connector() })
      const err = await impostor.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(TopologyRefusedError)
      expect((err as Error).message).toMatch(/node id a is live on another link and this hello does not prove its key/)
      expect(c.node('a').topologyClient?.connected).toBe(true)
      expect(c.service.view().members.find((m) => m.nodeId === 'a')?.status).toBe('up')
      // a restarts on its own disk: the same key.
      c.crash('a')
      await c.startNode('a')
      expect(await loadNodeKey(new MemoryStorage(c.disks.get(nodeId('a'))))).toBe(key)
      expect(c.service.view().members.find((m) => m.nodeId === 'a')?.status).toBe('up')
    } finally {
      await c.close()
    }
  })
})
