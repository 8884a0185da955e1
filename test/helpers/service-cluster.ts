/**
 * Nodes that join through a real TopologyService (in-process links), on one MemoryNetwork and one
 * FakeClock: membership, failure detection, heal delays and healing all run as in production,
 * only faster and in the same order every time.
 */
import { nodeId, type NodeId } from '../../src/ids.js'
import type { MeshNode, StoreTuning } from '../../src/node/mesh-node.js'
import { NotConnectedError } from '../../src/errors.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { MemoryTopologyStateStore } from '../../src/server/topology-state.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import { flushMicrotasks } from '../../src/util/clock.js'
import { CLUSTER, MemoryCluster, type MemoryClusterOptions } from './cluster.js'
import { ProcessClock } from './process-clock.js'

export const SECRET = 'test-secret'

export interface ServiceClusterOptions extends MemoryClusterOptions {
  replicas?: number
  domainCount?: number
  healDelayMs?: number
  store?: StoreTuning
  /** Whether nodes join as durable members (Node peers on files) unless `startNode` says otherwise; default: ephemeral, as memory storage is. */
  durable?: boolean
}

export class ServiceCluster extends MemoryCluster {
  /** The topology service's saved state: it outlives the service (see `crashService`). */
  readonly serviceState = new MemoryTopologyStateStore()
  /** Each running node process's own clock over `clock` (it pauses and dies with the process). */
  readonly clocks = new Map<NodeId, ProcessClock>()
  /** What the service sends reaches these nodes this many ms (fake time) late, as over a slow socket. */
  readonly topologyDelayMs = new Map<string, number>()
  private serviceRef: TopologyService | undefined
  /** Settles when a node process dies (by its MeshNode): what its callers were waiting for has no outcome. */
  private readonly deaths = new WeakMap<MeshNode, { died: Promise<void>; die: () => void }>()

  constructor(readonly opts: ServiceClusterOptions = {}) {
    super(opts, 1_000_000)
    this.serviceRef = this.newService()
  }

  private newService(): TopologyService {
    const service = new TopologyService({
      clusterId: CLUSTER,
      secret: SECRET,
      clock: this.clock,
      settings: { domainCount: this.opts.domainCount ?? 16, replicas: this.opts.replicas ?? 2 },
      healDelayMs: this.opts.healDelayMs ?? 5000,
      heartbeatMs: 1000,
      store: this.serviceState,
    })
    if (process.env.SIM_TRACE) {
      service.events.on('view', ({ view }) => console.log(`${this.clock.now()} service view @${view.epoch}: ${view.members.map((m) => `${m.nodeId}:${m.status}`).join(' ')} owners ${JSON.stringify(view.owners)}`))
      service.events.on('state-error', ({ error }) => console.log(`${this.clock.now()} service state error: ${error.message}`))
    }
    return service
  }

  /** The running topology service (throws while it is down). */
  get service(): TopologyService {
    if (!this.serviceRef) throw new Error('the topology service is down')
    return this.serviceRef
  }

  get serviceUp(): boolean {
    return this.serviceRef !== undefined
  }

  /** The topology service's process dies: every node's link drops; its saved state stays. */
  crashService(): void {
    this.serviceRef?.close()
    this.serviceRef = undefined
  }

  /** A new topology service on the saved state; nodes reconnect to it on their own. */
  async startService(): Promise<TopologyService> {
    if (this.serviceRef) throw new Error('the topology service is already running')
    const service = this.newService()
    this.serviceRef = service
    await service.loaded
    return service
  }

  static async start(names: string[], opts: ServiceClusterOptions = {}): Promise<ServiceCluster> {
    const c = new ServiceCluster(opts)
    for (const n of names) await c.startNode(n)
    await c.settleHealing()
    return c
  }

  /**
   * How a node reaches the topology service. With `clock` (the node's process clock), the link
   * stops with the process: nothing it sends leaves and nothing it receives is handled (a close
   * included) until the process resumes.
   */
  connector(secret = SECRET, name?: string, clock?: ProcessClock) {
    return {
      secret,
      connect: async (): Promise<TopologyLink> => {
        if (!this.serviceRef) throw new NotConnectedError('topology service (down)')
        const [nodeSide, serviceSide] = localLinkPair()
        this.serviceRef.accept(serviceSide)
        if (name === undefined) return nodeSide
        // In order, as on a socket, even when the delay shrinks.
        let lastAt = 0
        const gate = (fn: () => void) => (clock ? clock.gate(fn) : fn())
        const delay = (h: (m: unknown) => void) => (m: unknown) => {
          const now = this.clock.now()
          const at = Math.max(now + (this.topologyDelayMs.get(name) ?? 0), lastAt)
          if (at === now) return gate(() => h(m))
          lastAt = at
          this.clock.setTimeout(() => gate(() => h(m)), at - now)
        }
        return {
          send: (m) => gate(() => nodeSide.send(m)),
          close: (r) => nodeSide.close(r),
          onClose: (h) => nodeSide.onClose((r) => gate(() => h(r))),
          onMessage: (h) => nodeSide.onMessage(delay(h)),
        }
      },
    }
  }

  /** Starts (or restarts on its old disk) a node; `durable` makes it a durable member (a Node peer on files). */
  async startNode(name: string, opts: { durable?: boolean } = {}): Promise<MeshNode> {
    const id = nodeId(name)
    const clock = new ProcessClock(this.clock)
    const node = this.newNode(name, { clock, topology: this.connector(SECRET, name, clock), ...(this.opts.store ? { store: this.opts.store } : {}), ...((opts.durable ?? this.opts.durable) !== undefined ? { durable: opts.durable ?? this.opts.durable } : {}) })
    let die!: () => void
    this.deaths.set(node, { died: new Promise<void>((r) => (die = r)), die })
    this.clocks.set(id, clock)
    // A delayed link needs fake time to pass before the service's welcome arrives.
    if (this.topologyDelayMs.get(name)) await this.run(node.start())
    else await node.start()
    if (process.env.SIM_TRACE) {
      node.state.events.on('copied', ({ domain, target, report }) => console.log(`${this.clock.now()} ${id} copied domain ${domain} to ${target} (${report.bytes} bytes)`))
      node.state.events.on('lagging', ({ domain, node: n }) => console.log(`${this.clock.now()} ${id} reports ${n} lagging in domain ${domain}`))
      node.state.events.on('healing', ({ domain, target, error }) => error !== undefined && console.log(`${this.clock.now()} ${id} copy of domain ${domain} to ${target} failed: ${String(error)}`))
      node.state.events.on('replica-error', ({ domain, error }) => console.log(`${this.clock.now()} ${id} domain ${domain}: ${String(error)}`))
      node.state.events.on('role-changed', ({ domain, role, epoch }) => console.log(`${this.clock.now()} ${id} domain ${domain} -> ${role} @${epoch}`))
    }
    this.nodes.set(id, node)
    await this.settle()
    return node
  }

  /** The process dies: transport and topology link drop, timers stop, the disk stays. */
  crash(name: string): void {
    const id = nodeId(name)
    const node = this.nodes.get(id)
    this.nodes.delete(id)
    this.net.crash(id)
    node?.halt()
    this.clocks.get(id)?.kill()
    this.clocks.delete(id)
    if (node) this.deaths.get(node)?.die()
  }

  /** Settles when this node process dies: calls made in it will never return. */
  died(node: MeshNode): Promise<void> {
    return this.deaths.get(node)?.died ?? new Promise<void>(() => undefined)
  }

  /**
   * The process stops (SIGSTOP): its timers, its mesh links and its topology link freeze; the
   * service stops hearing its heartbeats and marks it down. Nothing is lost: see `resume`.
   */
  pause(name: string): void {
    const id = nodeId(name)
    const clock = this.clocks.get(id)
    if (!clock || clock.isPaused) return
    clock.pause()
    this.net.pause(id)
  }

  /** The process goes on (SIGCONT) with everything that queued up meanwhile. */
  resume(name: string): void {
    const id = nodeId(name)
    this.net.resume(id)
    this.clocks.get(id)?.resume()
  }

  isPaused(name: string): boolean {
    return this.clocks.get(nodeId(name))?.isPaused ?? false
  }

  /**
   * Lets messages, storage and `ms` of fake time pass. Each step also yields to the real event
   * loop: WebCrypto (HMAC for hellos and failover tokens) finishes on Node's thread pool, outside
   * the microtask queue, and fake time must not run out while it works.
   */
  async settle(ms = 20): Promise<void> {
    await flushMicrotasks(300)
    await new Promise((r) => setImmediate(r))
    await this.clock.advance(ms)
    await flushMicrotasks(300)
    await new Promise((r) => setImmediate(r))
  }

  /** Advances fake time until no node is healing and every owner list is complete. */
  async settleHealing(maxMs = 60_000): Promise<void> {
    for (let t = 0; t < maxMs; t += 50) {
      await this.settle(50)
      const healthy = [...this.nodes.values()].every((n) => n.health().safe)
      const view = this.service.view()
      const complete = Object.values(view.owners ?? {}).every((o) => o.length === Math.min(this.opts.replicas ?? 2, view.members.length))
      if (healthy && complete) return
    }
    throw new Error('healing did not finish')
  }

  /** Runs a promise while fake time passes, so timers it depends on can fire. */
  async run<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    let done = false
    const guarded = p.finally(() => (done = true))
    // The caller gets the rejection from the returned promise; this only stops Node from calling
    // it unhandled while fake time runs and the caller has not awaited yet.
    guarded.catch(() => undefined)
    for (let t = 0; !done && t < maxMs; t += 10) await this.settle(10)
    if (!done) throw new Error(`still pending after ${maxMs} ms of simulated time`)
    return guarded
  }

  snapshotsCopied(): number {
    return [...this.nodes.values()].reduce((sum, n) => sum + n.state.stats.snapshotsInstalled, 0)
  }

  async close(): Promise<void> {
    for (const n of this.nodes.keys()) this.resume(n)
    await this.closeNodes()
    this.serviceRef?.close()
  }
}
