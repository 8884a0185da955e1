/** The topology service on a real WebSocket port (loopback), with real clocks. */
import { afterEach, describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { parseStaticTopology, StaticTopologyError } from '../../src/server/static-topology.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { waitFor } from '../helpers/wait.js'

let server: TopologyServer | undefined
const nodes: MeshNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
  await server?.close()
  server = undefined
})

async function join(net: MemoryNetwork, name: string, secret = 'ws-secret', cluster = 'wsc') {
  const node = new MeshNode({
    clusterId: clusterId(cluster),
    nodeId: nodeId(name),
    transport: net.createTransport(),
    storage: new MemoryStorage(),
    clock: new RealClock(),
    topology: { connect: nodeTopologyConnector(server!.url), secret },
  })
  await node.start()
  nodes.push(node)
  return node
}

describe('topology server over WebSocket', () => {
  it('binds to loopback, admits nodes, and their views and writes flow', async () => {
    server = await startTopologyServer({ clusterId: 'wsc', secret: 'ws-secret', settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 100, healDelayMs: 1000 })
    expect(server.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    const net = new MemoryNetwork({ clock: new RealClock() })
    const a = await join(net, 'a')
    const b = await join(net, 'b')
    await waitFor(() => a.topology.view().members.length === 2 && b.health().safe && a.health().safe, 'both nodes in the view and healed')
    expect(a.settings).toMatchObject({ domainCount: 8, replicas: 2 })
    await a.store('shop').put('k', { v: 1 })
    expect(await b.store('shop').get('k')).toEqual({ v: 1 })
  })

  it('refuses a wrong secret or cluster over the socket with the reason', async () => {
    server = await startTopologyServer({ clusterId: 'wsc', secret: 'ws-secret', settings: { domainCount: 8, replicas: 2 } })
    const net = new MemoryNetwork({ clock: new RealClock() })
    await expect(join(net, 'x', 'nope')).rejects.toThrow(/refused this node: bad proof: wrong cluster secret/)
    await expect(join(net, 'y', 'ws-secret', 'other')).rejects.toThrow(/wrong cluster "other"/)
    expect(server.service.view().members).toEqual([])
  })

  it('marks a node down when its socket goes away', async () => {
    server = await startTopologyServer({ clusterId: 'wsc', secret: 'ws-secret', settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 100, healDelayMs: 60_000 })
    const net = new MemoryNetwork({ clock: new RealClock() })
    const a = await join(net, 'a')
    const b = await join(net, 'b')
    b.topologyClient!.close()
    await waitFor(() => a.topology.view().members.find((m) => m.nodeId === 'b')?.status === 'down', 'b down in a\'s view')
  })
})

describe('static topology description', () => {
  it('lists the nodes that may join and pins domains in the order given', () => {
    const t = parseStaticTopology({ clusterId: 'shop', domainCount: 8, replicas: 2, nodes: [{ nodeId: 'n1', domains: [3] }, { nodeId: 'n2', domains: [3, 5] }, { nodeId: 'n3' }] })
    expect(t.allowedNodes).toEqual(['n1', 'n2', 'n3'])
    expect(t.settings).toEqual({ domainCount: 8, replicas: 2, pins: { 3: ['n1', 'n2'], 5: ['n2'] } })
    expect(t.healDelayMs).toBe(5000)
  })

  it('names what is wrong in a bad description', () => {
    expect(() => parseStaticTopology({ domainCount: 8, nodes: [] })).toThrow(StaticTopologyError)
    expect(() => parseStaticTopology({ clusterId: 'c', nodes: [] })).toThrow(/nodes: .*1/)
    expect(() => parseStaticTopology({ clusterId: 'c', nodes: [{ nodeId: 'bad id' }] })).toThrow(/nodes.0.nodeId: must be/)
    expect(() => parseStaticTopology({ clusterId: 'c', nodes: [{ nodeId: 'a' }, { nodeId: 'a' }] })).toThrow(/listed twice/)
    expect(() => parseStaticTopology({ clusterId: 'c', domainCount: 4, nodes: [{ nodeId: 'a', domains: [9] }] })).toThrow(/pins domain 9, but there are only 4/)
    expect(() => parseStaticTopology({ clusterId: 'c', replicas: 9, nodes: [{ nodeId: 'a' }] })).toThrow(/replicas/)
  })
})
