/**
 * The in-memory cluster builder of the tests, in the spirit of yjs's seeded test networks: MeshNodes
 * on one seeded MemoryNetwork and one FakeClock, each on its own disk kept across restarts.
 * `MemoryCluster` is what every such cluster shares; how its members learn of each other is the
 * one choice left:
 *   - StoreCluster (store-cluster.ts): the test publishes the views (membership changes explicit);
 *   - ServiceCluster (service-cluster.ts): a real TopologyService in-process (failure detection,
 *     heal delays and healing as in production);
 *   - memoryCluster (below): a static directory and no views, for the router and messenger alone.
 */
import { clusterId, engineId, engineType, nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import { MeshNode, type MeshNodeOptions } from '../../src/node/mesh-node.js'
import { StaticDirectory } from '../../src/node/static-directory.js'
import type { Engine, MemberInfo } from '../../src/routing/engine.js'
import { MemoryStorage, type MemoryDisk } from '../../src/storage/memory.js'
import { MemoryNetwork, type Faults, type MemoryNetworkOptions } from '../../src/transport/memory.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'
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

export interface MemoryClusterOptions {
  /** The network's seed (default 1): the same seed replays the same run. */
  seed?: number
  faults?: Faults
}

/** The nodes, disks, network and clock of an in-memory test cluster (see the file's comment). */
export abstract class MemoryCluster {
  readonly clock: FakeClock
  readonly net: MemoryNetwork
  /** Each node's disk, by id: it outlives the node (a restart finds its data). */
  readonly disks = new Map<NodeId, MemoryDisk>()
  /** The running nodes. */
  readonly nodes = new Map<NodeId, MeshNode>()

  /** `startAt`: the fake clock's first reading. */
  constructor(opts: MemoryClusterOptions, startAt: number) {
    this.clock = new FakeClock(startAt)
    this.net = new MemoryNetwork({ seed: opts.seed ?? 1, clock: this.clock, ...(opts.faults ? { faults: opts.faults } : {}) })
  }

  node(name: string): MeshNode {
    const n = this.nodes.get(nodeId(name))
    if (!n) throw new Error(`node ${name} is not running`)
    return n
  }

  /** A node on this cluster's network and its own disk (see `diskNode`), not started. */
  protected newNode(name: string, extra: Partial<MeshNodeOptions> & Pick<MeshNodeOptions, 'clock'>): MeshNode {
    return diskNode(name, this.net, this.disks, extra)
  }

  /** Lets messages, storage and `ms` of fake time pass. */
  abstract settle(ms?: number): Promise<void>

  /** Closes every running node, with no hand-over wait (MeshNode.close): the fake clock does not run any more. */
  protected async closeNodes(): Promise<void> {
    for (const n of this.nodes.values()) await n.close({ handOverMs: 0 })
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
