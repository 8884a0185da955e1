/**
 * A running domainmesh node. It wires the parts together (storage, transport, router, messenger,
 * engines) and holds no protocol logic of its own.
 */
import { ClosedError } from '../errors.js'
import { engineId as toEngineId, type ClusterId, type NodeId } from '../ids.js'
import type { Address, ExactAddress } from '../routing/address.js'
import type { Directory, Engine, EngineInfo } from '../routing/engine.js'
import { Messenger, type MessengerMetrics } from '../routing/messenger.js'
import { Router } from '../routing/router.js'
import type { Storage } from '../storage/storage.js'
import type { Transport } from '../transport/transport.js'
import { RealClock, type Clock } from '../util/clock.js'
import { loadNodeId } from './identity.js'
import { StaticDirectory } from './static-directory.js'

export interface MeshNodeOptions {
  clusterId: ClusterId
  transport: Transport
  storage: Storage
  /** Used on first start; afterwards the id stored with the data wins (a different one is an error). */
  nodeId?: NodeId
  clock?: Clock
  directory?: Directory
  requestTimeoutMs?: number
  maxMalformedPerPeer?: number
}

export class MeshNode {
  readonly clusterId: ClusterId
  readonly clock: Clock
  readonly storage: Storage
  readonly transport: Transport
  readonly directory: Directory
  private id: NodeId | undefined
  private router: Router | undefined
  private messengerRef: Messenger | undefined
  private state: 'new' | 'starting' | 'running' | 'closed' = 'new'

  constructor(private readonly opts: MeshNodeOptions) {
    this.clusterId = opts.clusterId
    this.clock = opts.clock ?? new RealClock()
    this.storage = opts.storage
    this.transport = opts.transport
    this.directory = opts.directory ?? new StaticDirectory()
  }

  get nodeId(): NodeId {
    if (!this.id) throw new ClosedError('node (not started)')
    return this.id
  }

  get messenger(): Messenger {
    if (!this.messengerRef) throw new ClosedError('node (not started)')
    return this.messengerRef
  }

  async start(): Promise<this> {
    if (this.state !== 'new') throw new ClosedError('node (already started)')
    this.state = 'starting'
    const id = await loadNodeId(this.storage, this.opts.nodeId)
    this.id = id
    this.router = new Router(this.clusterId, id, this.directory, (n) => this.transport.peers().includes(n))
    this.messengerRef = new Messenger({
      clusterId: this.clusterId,
      nodeId: id,
      transport: this.transport,
      router: this.router,
      clock: this.clock,
      ...(this.opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.opts.requestTimeoutMs } : {}),
      ...(this.opts.maxMalformedPerPeer !== undefined ? { maxMalformedPerPeer: this.opts.maxMalformedPerPeer } : {}),
    })
    await this.transport.connect(id)
    this.state = 'running'
    return this
  }

  registerEngine(engine: Engine): () => void {
    if (!this.router) throw new ClosedError('node (not started)')
    return this.router.register(engine)
  }

  engines(): EngineInfo[] {
    return this.router?.localEngines() ?? []
  }

  /** The exact address of one of this node's engines. */
  address(engineId: string): ExactAddress {
    return { clusterId: this.clusterId, nodeId: this.nodeId, engineId: toEngineId(engineId) }
  }

  request(from: ExactAddress, to: Address, method: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    return this.messenger.request(from, to, method, body, timeoutMs)
  }

  metrics(): { nodeId: NodeId; peers: NodeId[] } & MessengerMetrics {
    return { nodeId: this.nodeId, peers: this.transport.peers(), ...this.messenger.metrics }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.messengerRef?.close()
    await this.transport.close()
    await this.storage.close()
  }
}
