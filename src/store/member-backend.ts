/**
 * Where a member's store calls go: to its own replica when it leads the key's domain (or, for a
 * local read, holds a copy), else to the primary over the link to it. The primary's store engine
 * forwards once more if its view is behind (store-engine.ts).
 */
import { NoPrimaryError } from '../errors.js'
import type { NodeId, VirtualServerId } from '../ids.js'
import type { Limits } from '../objects/guard.js'
import type { StateManager } from '../replication/state-manager.js'
import type { MessengerStatePort } from './port.js'
import type { StoreBackend, StoreCall, Versioned } from './store.js'
import type { StoreEngine } from './store-engine.js'
import type { ChangeEvent, WatchPattern } from './watch.js'

export class MemberBackend implements StoreBackend {
  constructor(
    private readonly self: NodeId,
    private readonly engine: StoreEngine,
    private readonly state: StateManager,
    private readonly port: MessengerStatePort,
    /** Members linked now: they hear this node's subscriptions. */
    private readonly peers: () => NodeId[],
  ) {}

  get writeTimeoutMs(): number {
    return this.state.writeTimeoutMs
  }

  get limits(): Limits {
    return this.state.limits
  }

  primaryOf(vs: VirtualServerId, key: string): NodeId {
    const domain = this.state.domainOf(vs, key)
    const primary = this.state.placement(domain).primary
    if (!primary) throw new NoPrimaryError(domain)
    return primary
  }

  here(primary: NodeId, call: StoreCall): Promise<unknown> | undefined {
    const b = call.body
    if (call.method === 'write') return primary === this.self ? this.engine.write(b.vs, b.key, call.change, call.body.ifVersion, 0) : undefined
    const local = call.body.local
    return primary === this.self || (local && this.state.readLocal(b.vs, b.key).held) ? this.engine.read(b.vs, b.key, call.body.path, local, 0) : undefined
  }

  send(primary: NodeId, call: StoreCall, timeoutMs: number): Promise<unknown> {
    return this.port.request(primary, call.method, call.body, call.body.vs, timeoutMs)
  }

  expedite(): void {
    this.port.expedite()
  }

  readCommittedHere(vs: VirtualServerId, key: string): Versioned<unknown> | undefined {
    return this.state.readCommittedHere(vs, key)
  }

  watch(pattern: WatchPattern, listener: (e: ChangeEvent) => void, from: 'primary' | 'local'): () => void {
    if (from === 'local') return this.engine.watchCopy(pattern, listener)
    const off = this.engine.watches.addLocal(pattern, listener)
    this.engine.announceWatches(this.peers())
    return () => {
      off()
      this.engine.announceWatches(this.peers())
    }
  }
}
