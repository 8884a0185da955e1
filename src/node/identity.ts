/**
 * A node's id is stable across restarts: it is stored with the node's data, so a node restarted on
 * the same storage comes back as the same member with the same replicas. Next to it, the node
 * key: 32 random bytes made on the first start, which the node shows in each hello. The topology
 * service keeps only a hash of it and refuses a second hello for an id that is live unless it
 * shows the same key (docs/design.md, "Threat model"): a node restarted on its own storage takes
 * its place back at once, another process that only knows the cluster secret cannot.
 */
import { DomainMeshError } from '../errors.js'
import { nodeId as toNodeId, randomNodeId, type NodeId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { randomNonce } from '../topology/auth.js'

const KEY = ['meta', 'nodeId'] as const
const NODE_KEY = ['meta', 'nodeKey'] as const
/** 32 bytes as lowercase hex: what the hello schema takes. */
const NODE_KEY_PATTERN = /^[0-9a-f]{64}$/

export class NodeIdMismatchError extends DomainMeshError {
  constructor(stored: string, asked: string) {
    super('NODE_ID_MISMATCH', `this storage belongs to node "${stored}", not "${asked}": use another data folder or the stored id`, { stored, asked })
  }
}

export async function loadNodeId(storage: Storage, wanted?: NodeId): Promise<NodeId> {
  const stored = await storage.get(KEY)
  if (stored) {
    const id = toNodeId(new TextDecoder().decode(stored))
    if (wanted !== undefined && wanted !== id) throw new NodeIdMismatchError(id, wanted)
    return id
  }
  const id = wanted ?? randomNodeId()
  await storage.put(KEY, new TextEncoder().encode(id))
  return id
}

/**
 * This storage's node key, made and stored on the first call. A stored value that is not a key
 * (a damaged file) is replaced: the node then shows a new key, as after a replaced disk, and the
 * service takes it once the old one's link is no longer live.
 */
export async function loadNodeKey(storage: Storage): Promise<string> {
  const stored = await storage.get(NODE_KEY)
  const text = stored ? new TextDecoder().decode(stored) : ''
  if (NODE_KEY_PATTERN.test(text)) return text
  // Two nonces: 32 random bytes as hex, without a second copy of the hex code in browser bundles.
  const key = randomNonce() + randomNonce()
  await storage.put(NODE_KEY, new TextEncoder().encode(key))
  return key
}
