/**
 * A cluster of MeshNodes with stores on one seeded MemoryNetwork and a FakeClock. Views are
 * published by the test, so membership changes are explicit. Owners are kept as the topology
 * service keeps them: a finished copy adds one, a primary's `lagging` report drops one, and
 * either publishes a view of its own shortly after (a primary holds commits until then).
 */
import { nodeId, type NodeId } from '../../src/ids.js'
import type { MeshNode, StoreTuning } from '../../src/node/mesh-node.js'
import { placeDomain } from '../../src/topology/placement.js'
import type { View } from '../../src/topology/view.js'
import { flushMicrotasks } from '../../src/util/clock.js'
import { MemoryCluster, type MemoryClusterOptions } from './cluster.js'

export interface StoreClusterOptions extends MemoryClusterOptions {
  replicas?: number
  domainCount?: number
  store?: StoreTuning
  /** Owner changes are held until the test publishes (default: a view follows each at once). */
  holdOwnerViews?: boolean
}

export class StoreCluster extends MemoryCluster {
  private epoch = 0
  private down = new Set<NodeId>()
  private members: NodeId[] = []
  /** Per domain, the members with a complete copy (as the topology service keeps them). */
  readonly owners = new Map<number, NodeId[]>()
  private soon = false

  constructor(private readonly opts: StoreClusterOptions = {}) {
    super(opts, 0)
  }

  static async start(names: string[], opts: StoreClusterOptions = {}): Promise<StoreCluster> {
    const c = new StoreCluster(opts)
    for (const n of names) await c.startNode(n)
    c.members = names.map(nodeId)
    await c.publish()
    return c
  }

  /** Starts (or restarts on its old disk) a node. */
  async startNode(name: string): Promise<MeshNode> {
    const id = nodeId(name)
    const node = this.newNode(name, {
      clock: this.clock,
      settings: { replicas: this.opts.replicas ?? 2, domainCount: this.opts.domainCount ?? 16 },
      ...(this.opts.store ? { store: this.opts.store } : {}),
    })
    await node.start()
    node.state.events.on('lagging', ({ domain, node: stale }) => {
      const owners = this.owners.get(domain) ?? []
      if (!owners.includes(id) || !owners.includes(stale) || owners.length < 2) return
      this.owners.set(domain, owners.filter((o) => o !== stale))
      this.publishSoon()
    })
    node.state.events.on('copied', ({ domain, target }) => {
      const owners = this.owners.get(domain) ?? []
      if (owners.includes(target) || !this.members.includes(target)) return
      this.owners.set(domain, [...owners, target])
      this.publishSoon()
    })
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
    const view = this.nextView()
    for (const n of this.nodes.values()) n.applyView(view)
    await this.settle()
    return view
  }

  private nextView(): View {
    this.soon = false
    const engines = [...this.nodes.values()][0]!.engines()
    const members = this.members.map((m) => ({ nodeId: m, status: this.down.has(m) ? ('down' as const) : ('up' as const), engines }))
    const settings = { replicas: this.opts.replicas ?? 2, domainCount: this.opts.domainCount ?? 16 }
    const owners: Record<number, NodeId[]> = {}
    for (let d = 0; d < settings.domainCount; d++) {
      const target = placeDomain({ epoch: 0, members }, settings, d).replicas
      const listed = this.owners.get(d)
      let now = listed ? listed.filter((o) => this.members.includes(o)) : [...target]
      if (now.length === 0) now = listed ?? []
      if (target.every((t) => now.includes(t) && !this.down.has(t))) now = now.filter((o) => target.includes(o))
      this.owners.set(d, now)
      owners[d] = now
    }
    return { epoch: ++this.epoch, members, owners }
  }

  /** An owner change: a view follows (in a microtask, so writes awaited without fake time still finish). */
  private publishSoon(): void {
    if (this.soon || this.opts.holdOwnerViews) return
    this.soon = true
    queueMicrotask(() => {
      if (!this.soon) return
      const view = this.nextView()
      for (const n of this.nodes.values()) n.applyView(view)
    })
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
    await this.closeNodes()
  }
}
