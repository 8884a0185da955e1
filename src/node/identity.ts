/**
 * A node's id is stable across restarts: it is stored with the node's data, so a node restarted on
 * the same storage comes back as the same member with the same replicas.
 */
import { DomainMeshError } from '../errors.js'
import { nodeId as toNodeId, randomNodeId, type NodeId } from '../ids.js'
import type { Storage } from '../storage/storage.js'

const KEY = ['meta', 'nodeId'] as const

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
