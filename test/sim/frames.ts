/** What a frame on the memory network carries, for the simulation's fault hooks. */
import { CLUSTER } from '../helpers/cluster.js'
import type { NodeId } from '../../src/ids.js'
import { decodeFrame } from '../../src/wire/codec.js'

const isAck = (b: unknown): boolean => typeof b === 'object' && b !== null && (b as { type?: unknown }).type === 'ack'

/** True when the frame from `from` to `to` carries a backup's replication ack (`repl` message of type `ack`). */
export function carriesAck(from: NodeId, to: NodeId, bytes: Uint8Array): boolean {
  const r = decodeFrame(bytes, { clusterId: CLUSTER, self: to, peer: from })
  if (!r.ok) return false
  return r.envelopes.some((e) => (e.t === 'msg' && e.m === 'repl' && isAck(e.b)) || (e.t === 'msgs' && e.m === 'repl' && e.bs.some(isAck)))
}
