/** Builds small clusters of MeshNodes on one MemoryNetwork, in the spirit of yjs's seeded test networks. */
import { clusterId, engineId, engineType, nodeId, virtualServerId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { StaticDirectory } from '../../src/node/static-directory.js'
import type { Engine, MemberInfo } from '../../src/routing/engine.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork, type MemoryNetworkOptions } from '../../src/transport/memory.js'
import { flushMicrotasks } from '../../src/util/clock.js'

export const CLUSTER = clusterId('test')

export function echoEngine(id: string, vs: string[] | '*' = '*', type = 'echo'): Engine & { calls: unknown[] } {
  const calls: unknown[] = []
  return {
    engineId: engineId(id),
    engineType: engineType(type),
    virtualServers: vs === '*' ? '*' : vs.map(virtualServerId),
    calls,
    handle(req) {
      calls.push(req.body)
      if (req.method === 'fail') throw new RangeError(`asked to fail: ${JSON.stringify(req.body)}`)
      return { echoed: req.body, by: `${id}`, method: req.method }
    },
  }
}

export async function memoryCluster(names: string[], opts: MemoryNetworkOptions & { maxMalformedPerPeer?: number } = {}) {
  const net = new MemoryNetwork(opts)
  const directory = new StaticDirectory()
  const nodes: MeshNode[] = []
  for (const name of names) {
    const node = new MeshNode({
      clusterId: CLUSTER,
      nodeId: nodeId(name),
      transport: net.createTransport(),
      storage: new MemoryStorage(),
      clock: net.clock,
      directory,
      ...(opts.maxMalformedPerPeer !== undefined ? { maxMalformedPerPeer: opts.maxMalformedPerPeer } : {}),
    })
    nodes.push(await node.start())
  }
  const refresh = () =>
    directory.set(nodes.map((n): MemberInfo => ({ nodeId: n.nodeId, status: 'up', engines: n.engines() })))
  await flushMicrotasks()
  return { net, nodes, directory, refresh }
}
