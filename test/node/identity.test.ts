import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { NodeIdMismatchError } from '../../src/node/identity.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { CLUSTER } from '../helpers/cluster.js'

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
})
