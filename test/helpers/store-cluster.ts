/**
 * A cluster of MeshNodes with stores on one seeded MemoryNetwork and a FakeClock. Views are
 * published by the test (as a static topology would), so membership changes are explicit.
 */
import { nodeId, type NodeId } from '../../src/ids.js'
import type { MeshNode, StoreTuning } from '../../src/node/mesh-node.js'
import type { MemoryDisk } from '../../src/storage/memory.js'
import type { View } from '../../src/topology/view.js'
import { MemoryNetwork, type Faults } from '../../src/transport/memory.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'
import { diskNode } from './cluster.js'

export interface StoreClusterOptions {
  seed?: number
  faults?: Faults
  replicas?: number
  domainCount?: number
  store?: StoreTuning
}

export class StoreCluster {
  readonly clock = new FakeClock()
  readonly net: MemoryNetwork
  readonly disks = new Map<NodeId, MemoryDisk>()
  readonly nodes = new Map<NodeId, MeshNode>()
  private epoch = 0
  private down = new Set<NodeId>()
  private members: NodeId[] = []

  constructor(private readonly opts: StoreClusterOptions = {}) {
    this.net = new MemoryNetwork({ seed: opts.seed ?? 1, clock: this.clock, ...(opts.faults ? { faults: opts.faults } : {}) })
  }

  static async start(names: string[], opts: StoreClusterOptions = {}): Promise<StoreCluster> {
    const c = new StoreCluster(opts)
    for (const n of names) await c.startNode(n)
    c.members = names.map(nodeId)
    await c.publish()
    return c
  }

  node(name: string): MeshNode {
    const n = this.nodes.get(nodeId(name))
    if (!n) throw new Error(`node ${name} is not running`)
    return n
  }

  /** Starts (or restarts on its old disk) a node. */
  async startNode(name: string): Promise<MeshNode> {
    const id = nodeId(name)
    const node = diskNode(name, this.net, this.disks, {
      clock: this.clock,
      settings: { replicas: this.opts.replicas ?? 2, domainCount: this.opts.domainCount ?? 16 },
      ...(this.opts.store ? { store: this.opts.store } : {}),
    })
    await node.start()
    this.nodes.set(id, node)
    this.down.delete(id)
    if (!this.members.includes(id)) this.members.push(id)
    return node
  }

  /** Crashes a node: no goodbye, its disk stays. */
  crash(name: string): void {
    const id = nodeId(name)
    this.net.crash(id)
    const node = this.nodes.get(id)
    this.nodes.delete(id)
    this.down.add(id)
    void node?.state.close()
  }

  /** Publishes a new view (members with up/down) to every running node. */
  async publish(opts: { remove?: string[] } = {}): Promise<View> {
    for (const r of opts.remove ?? []) {
      this.members = this.members.filter((m) => m !== r)
      this.down.delete(nodeId(r))
    }
    const engines = [...this.nodes.values()][0]!.engines()
    const view: View = {
      epoch: ++this.epoch,
      members: this.members.map((m) => ({ nodeId: m, status: this.down.has(m) ? 'down' : 'up', engines })),
    }
    for (const n of this.nodes.values()) n.applyView(view)
    await this.settle()
    return view
  }

  /** Lets messages, storage and a little fake time pass. */
  async settle(ms = 100): Promise<void> {
    await flushMicrotasks(200)
    await this.clock.advance(ms)
    await flushMicrotasks(200)
  }

  /** Runs a promise while fake time passes, so timers it depends on can fire. */
  async run<T>(p: Promise<T>, maxMs = 20_000): Promise<T> {
    let done = false
    const guarded = p.finally(() => (done = true))
    for (let t = 0; !done && t < maxMs; t += 10) await this.clock.advance(10)
    return guarded
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await n.close()
  }
}
