/**
 * A whole cluster in one process, for tests of applications and adapters: a real topology service
 * reached over in-process links, MeshNodes on memory storage, and a MemoryNetwork (no sockets) in
 * place of WebRTC. Membership, failover and healing run as in production.
 */
import { TimeoutError } from '../errors.js'
import { clusterId as toClusterId, nodeId as toNodeId } from '../ids.js'
import { MeshNode, type StoreTuning } from '../node/mesh-node.js'
import { TopologyService } from '../server/topology-service.js'
import { MemoryStorage } from '../storage/memory.js'
import { localLinkPair } from '../topology/local-link.js'
import { MemoryNetwork, type Faults } from '../transport/memory.js'
import { RealClock, type Clock } from '../util/clock.js'

export interface MemoryClusterOptions {
  /** Names of the nodes started at once (default: n1, n2, n3). */
  nodes?: readonly string[]
  /** Copies of each domain (default 2). */
  replicas?: number
  /** Domains the keys are spread over (default 16). */
  domainCount?: number
  /** A member's copies are made again elsewhere this long after it went down (default 5000 ms). */
  healDelayMs?: number
  clock?: Clock
  /** Network faults (loss, delay, duplication) of the MemoryNetwork. */
  faults?: Faults
  store?: StoreTuning
}

export interface MemoryCluster {
  readonly service: TopologyService
  readonly network: MemoryNetwork
  /** The running nodes, by name. */
  readonly nodes: ReadonlyMap<string, MeshNode>
  /** A running node (throws if there is none by that name). */
  node(name: string): MeshNode
  /** Starts one more node (its store is empty) and waits until it is ready. */
  addNode(name: string): Promise<MeshNode>
  /** Closes one node, as a clean shutdown. */
  stopNode(name: string): Promise<void>
  close(): Promise<void>
}

const CLUSTER = 'test'
const READY_TIMEOUT_MS = 30_000
const SECRET = 'memory-cluster-secret'

/** Starts the service and the nodes, and resolves once, at one moment, every node is `ready()` with all of them in the service's latest view. */
export async function startMemoryCluster(opts: MemoryClusterOptions = {}): Promise<MemoryCluster> {
  const clock = opts.clock ?? new RealClock()
  const service = new TopologyService({
    clusterId: CLUSTER,
    secret: SECRET,
    clock,
    settings: { domainCount: opts.domainCount ?? 16, replicas: opts.replicas ?? 2 },
    healDelayMs: opts.healDelayMs ?? 5000,
    heartbeatMs: 250,
  })
  const network = new MemoryNetwork({ clock, ...(opts.faults ? { faults: opts.faults } : {}) })
  const nodes = new Map<string, MeshNode>()
  const start = async (name: string): Promise<MeshNode> => {
    if (nodes.has(name)) throw new Error(`node ${name} is running already`)
    const node = new MeshNode({
      clusterId: toClusterId(CLUSTER),
      nodeId: toNodeId(name),
      clock,
      transport: network.createTransport(),
      storage: new MemoryStorage(),
      ...(opts.store ? { store: opts.store } : {}),
      topology: {
        secret: SECRET,
        connect: async () => {
          const [nodeEnd, serviceEnd] = localLinkPair()
          service.accept(serviceEnd)
          return nodeEnd
        },
      },
    })
    nodes.set(name, node)
    return node.start()
  }
  // Each node's ready() holds for its own domains at the moment it resolves; a view that came
  // later (the placement still settling around a joiner) can give a domain a new backup that is
  // still being copied while another node's ready() has resolved already. So: until at one
  // moment every node sees the service's latest view and is ready in it.
  const settled = (): boolean => {
    const epoch = service.view().epoch
    return [...nodes.values()].every((n) => {
      const h = n.health()
      return h.epoch === epoch && h.safe
    })
  }
  const allReady = async (): Promise<void> => {
    const until = clock.now() + READY_TIMEOUT_MS
    for (;;) {
      await Promise.all([...nodes.values()].map((n) => n.ready({ members: nodes.size, timeoutMs: READY_TIMEOUT_MS })))
      if (settled()) return
      if (clock.now() >= until) throw new TimeoutError('the memory cluster to settle', READY_TIMEOUT_MS, { epoch: service.view().epoch })
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 20))
    }
  }
  const cluster: MemoryCluster = {
    service,
    network,
    nodes,
    node(name) {
      const n = nodes.get(name)
      if (!n) throw new Error(`no running node ${name}`)
      return n
    },
    async addNode(name) {
      const node = await start(name)
      await allReady()
      return node
    },
    async stopNode(name) {
      const node = cluster.node(name)
      nodes.delete(name)
      await node.close()
    },
    async close() {
      for (const n of [...nodes.values()]) await n.close()
      nodes.clear()
      service.close()
    },
  }
  try {
    for (const name of opts.nodes ?? ['n1', 'n2', 'n3']) await start(name)
    await allReady()
  } catch (err) {
    await cluster.close()
    throw err
  }
  return cluster
}
