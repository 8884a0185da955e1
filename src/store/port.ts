/**
 * How the state manager reaches the state managers of other nodes: one-way `repl` messages and
 * `fetch` requests to their `store` engines, over the messenger.
 */
import { ClosedError, NoRouteError } from '../errors.js'
import { engineId, type ClusterId, type NodeId, type VirtualServerId } from '../ids.js'
import type { ExactAddress } from '../routing/address.js'
import type { Messenger } from '../routing/messenger.js'
import { toWireEntry, type LogEntry } from '../replication/log.js'
import type { FetchMsg, LeadAnswer, LeadMsg, OutgoingReplMessage } from '../replication/messages.js'
import type { FetchResult, StatePort } from '../replication/state-manager.js'

export const STORE_ENGINE_ID = engineId('store')

export class MessengerStatePort implements StatePort {
  /** One-way sends dropped for lack of a route (replication recovers by resend and probe). */
  dropped = 0
  private readonly wired = new WeakMap<object, unknown>()

  constructor(
    private readonly clusterId: ClusterId,
    private readonly self: NodeId,
    private readonly messenger: Messenger,
    /** Whether a link to a node is open now (the transport's peers). */
    private readonly linked: (node: NodeId) => boolean = () => true,
  ) {}

  reachable(node: NodeId): boolean {
    return this.linked(node)
  }

  send(to: NodeId, msg: OutgoingReplMessage): void {
    this.notify(to, 'repl', msg.type === 'append' ? this.wireAppend(msg) : msg)
  }

  /** An append goes to every backup: its entries are put in wire form once, not once per backup. */
  private wireAppend(msg: Extract<OutgoingReplMessage, { type: 'append' }>): unknown {
    let wire = this.wired.get(msg)
    if (!wire) this.wired.set(msg, (wire = { ...msg, entries: msg.entries.map((e) => toWireEntry(e as LogEntry)) }))
    return wire
  }

  async lead(to: NodeId, msg: LeadMsg, timeoutMs: number): Promise<LeadAnswer> {
    return (await this.messenger.request(this.address(), this.peer(to), 'lead', msg, timeoutMs)) as LeadAnswer
  }

  async fetch(from: NodeId, msg: FetchMsg, timeoutMs: number): Promise<FetchResult> {
    return (await this.messenger.request(this.address(), this.peer(from), 'fetch', msg, timeoutMs)) as FetchResult
  }

  /**
   * One-way send to a peer's store engine. With no route to it right now the message is counted
   * and dropped: replication recovers by resend and probe, watchers are told again on peer-up.
   * A send that was already queued when this node closed is dropped the same way.
   */
  notify(to: NodeId, method: string, body: unknown): boolean {
    try {
      this.messenger.notify(this.address(), this.peer(to), method, body)
      return true
    } catch (err) {
      if (!(err instanceof NoRouteError) && !(err instanceof ClosedError)) throw err
      this.dropped++
      return false
    }
  }

  request(to: NodeId, method: string, body: unknown, vs?: VirtualServerId, timeoutMs?: number): Promise<unknown> {
    return this.messenger.request(this.address(), this.peer(to, vs), method, body, timeoutMs)
  }

  /** The application started a call: its messages need not wait for others (Messenger.expedite). */
  expedite(): void {
    this.messenger.expedite()
  }

  address(): ExactAddress {
    return { clusterId: this.clusterId, nodeId: this.self, engineId: STORE_ENGINE_ID }
  }

  peer(node: NodeId, vs?: VirtualServerId): ExactAddress {
    return { clusterId: this.clusterId, nodeId: node, engineId: STORE_ENGINE_ID, virtualServerId: vs }
  }
}
