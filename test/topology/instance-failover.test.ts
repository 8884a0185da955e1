/**
 * A node with several topology instances: when its instance goes away it reconnects to the next
 * one, after a jittered wait (so the nodes of a dead instance do not all come back at once).
 */
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode as NodeMeshNode, startTopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { TopologyClient, type TopologyConnector } from '../../src/topology/client.js'
import { failoverConnector } from '../../src/topology/failover.js'
import { websocketConnector, type WebSocketConstructor } from '../../src/topology/ws-link.js'
import { WebSocket } from 'ws'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

describe('failover between topology instances', () => {
  it('tries the next instance when one fails, and stays with the one that answered', async () => {
    const up = [false, true, true]
    const tried: number[] = []
    const connectors: TopologyConnector[] = up.map((_, i) => async () => {
      tried.push(i)
      if (!up[i]) throw new Error(`instance ${i} is down`)
      return localLinkPair()[0]
    })
    const connect = failoverConnector(connectors)
    await connect()
    expect(tried).toEqual([0, 1])
    await connect()
    expect(tried).toEqual([0, 1, 1])
    up[1] = false
    await connect()
    expect(tried).toEqual([0, 1, 1, 1, 2])
    up[2] = false
    await expect(connect()).rejects.toThrow(/#1: instance 0 is down; #2: instance 1 is down/)
  })

  it('after the link to an instance ends, the next attempt starts at the next instance (a hung one would cost an open timeout)', async () => {
    const tried: number[] = []
    const connect = failoverConnector([0, 1, 2].map((i) => async () => (tried.push(i), localLinkPair()[0])))
    const first = await connect()
    expect(tried).toEqual([0])
    first.close('the instance did not answer')
    await connect()
    expect(tried).toEqual([0, 1])
  })

  it('a WebSocket the server accepts but never upgrades fails after the open timeout', async () => {
    // A stopped process: the kernel accepts the TCP connection, nothing answers the upgrade.
    const silent = createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      const started = Date.now()
      await expect(websocketConnector(`ws://127.0.0.1:${port}`, WebSocket as unknown as WebSocketConstructor, 300)()).rejects.toThrow(/no answer within 300 ms/)
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      silent.close()
    }
  })

  it('a node whose instance closes its link joins the next instance after a jittered wait', async () => {
    const clock = new FakeClock(1_000_000)
    const settings = { domainCount: 4, replicas: 1 }
    // Two services standing for two instances of one cluster.
    const services = [0, 1].map(() => new TopologyService({ clusterId: 'c', secret: 's', clock, settings, heartbeatMs: 1000 }))
    const alive = [true, true]
    const links: TopologyLink[] = []
    const welcomedBy: number[] = []
    const connect = failoverConnector(
      services.map((svc, i) => async () => {
        if (!alive[i]) throw new Error('connection refused')
        const [node, server] = localLinkPair()
        svc.accept(server)
        links[i] = server
        welcomedBy.push(i)
        return node
      }),
    )
    const reconnectAt = (random: () => number) => {
      const c = new TopologyClient({ clusterId: 'c', nodeId: nodeId('n'), secret: 's', clock, engines: () => [], connect, reconnectMs: 400, random })
      return c
    }
    const client = reconnectAt(() => 0.5)
    await client.connect()
    expect(welcomedBy).toEqual([0])
    alive[0] = false
    services[0]!.close() // closes the link, as a dying instance's socket does
    await flushMicrotasks(100)
    expect(client.connected).toBe(false)
    // 400 ms × (0.5 + 0.5 × 0.5) = 300 ms.
    await clock.advance(299)
    await flushMicrotasks(100)
    expect(welcomedBy).toEqual([0])
    await clock.advance(1)
    await flushMicrotasks(100)
    expect(welcomedBy).toEqual([0, 1])
    expect(client.connected).toBe(true)
    client.close()
    services[1]!.close()
  })
})

describe('topology: { urls } on a MeshNode', () => {
  it('from the Node entry, joins through the first instance that answers (Node 20 has no global WebSocket: ws is used)', async () => {
    const server = await startTopologyServer({ clusterId: 'u', secret: 'secret-of-8', settings: { domainCount: 4, replicas: 1 } })
    // A port nobody listens on: the first URL of the list is a dead instance.
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const deadPort = (probe.address() as { port: number }).port
    await new Promise((r) => probe.close(r))
    const node = new NodeMeshNode({
      clusterId: clusterId('u'),
      nodeId: nodeId('n1'),
      transport: new MemoryNetwork({ clock: new RealClock() }).createTransport(),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { urls: [`ws://127.0.0.1:${deadPort}`, server.url], secret: 'secret-of-8' },
    })
    try {
      await node.start()
      expect(node.topology.view().members.map((m) => m.nodeId)).toEqual(['n1'])
      expect(node.topologyClient!.connected).toBe(true)
    } finally {
      await node.close()
      await server.close()
    }
  })
})
