/**
 * A Transport moves opaque frames between nodes of one cluster. It knows nothing of envelopes,
 * engines or domains. Delivery between two peers is in order while the link is up; a frame sent
 * while the link goes down may be lost (the layers above retry or resync).
 */
import type { NodeId } from '../ids.js'

export interface TransportEvents {
  'peer-up': { peer: NodeId }
  'peer-down': { peer: NodeId; reason: string }
  frame: { from: NodeId; bytes: Uint8Array }
}

export interface Transport {
  /** The node this transport speaks for; set by `connect`. */
  readonly self: NodeId | undefined
  /** Resolves once sending is possible. Peers appear later through `peer-up`. */
  connect(self: NodeId): Promise<void>
  /** Queues one frame to a connected peer. Throws NotConnectedError when there is no link to it. */
  send(to: NodeId, bytes: Uint8Array): void
  /** Peers with a link up right now. */
  peers(): NodeId[]
  /** Whether `peers()` would list `peer`, without building the list (every send asks). */
  linked(peer: NodeId): boolean
  /** Cuts the link to one peer (e.g. it sent garbage); both sides see `peer-down`. */
  disconnect(peer: NodeId, reason: string): void
  /** Closes every link; no events are emitted afterwards. */
  close(): Promise<void>
  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): () => void
}
