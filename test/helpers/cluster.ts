/** Builds small clusters of MeshNodes on one MemoryNetwork, in the spirit of yjs's seeded test networks. */
import { clusterId, engineId, engineType, nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import { MeshNode, type MeshNodeOptions } from '../../src/node/mesh-node.js'
import { StaticDirectory } from '../../src/node/static-directory.js'
import type { Engine, MemberInfo } from '../../src/routing/engine.js'
import { MemoryStorage, type MemoryDisk } from '../../src/storage/memory.js'
import { MemoryNetwork, type MemoryNetworkOptions } from '../../src/transport/memory.js'
import { flushMicrotasks } from '../../src/util/clock.js'
import { seededRandom } from '../../src/util/random.js'

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

/**
 * A node of the test cluster on `net`, whose storage is its own disk in `disks` (kept across
 * restarts, like a data folder), with fast resends for tests.
 */
export function diskNode(name: string, net: MemoryNetwork, disks: Map<NodeId, MemoryDisk>, extra: Partial<MeshNodeOptions> & Pick<MeshNodeOptions, 'clock'>): MeshNode {
  const id = nodeId(name)
  if (!disks.has(id)) disks.set(id, new Map())
  const hash = (text: string) => [...text].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261)
  // Session ids from a stream of this life of the node (its name and start time on the fake
  // clock): a seed replays the same ids, and a restarted node does not hand out its old ones again.
  const idStream = seededRandom(hash(`${name}@${extra.clock?.now() ?? 0}`))
  return new MeshNode({
    clusterId: CLUSTER,
    nodeId: id,
    transport: net.createTransport(),
    storage: new MemoryStorage(disks.get(id)),
    // Retry jitter from a stream of the node's own: a seed replays the same waits.
    random: seededRandom(hash(name)),
    randomBytes: (bytes) => bytes.map(() => Math.floor(idStream() * 256)),
    ...extra,
    store: { resendAfterMs: 50, ...extra.store },
  })
}
