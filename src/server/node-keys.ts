/**
 * Who may take a node id: the rule both topology services (embedded, and each etcd instance at its
 * door) apply to a hello for an id that already has a link. Every member shows the node key kept
 * with its data (src/node/identity.ts); a service keeps only its hash, learned when the id is
 * admitted. The cluster secret proves a node belongs to the cluster, the key that it is this node:
 *
 * - the id is not live (no link, or its link closed or stopped heartbeating): admitted, whatever
 *   key it shows (a replaced disk has a new one), and the hash it shows replaces the stored one;
 * - the id is live and the hello shows the key whose hash is stored: admitted, and it takes the
 *   old link's place at once (a node restarted after kill -9 whose old socket has not closed);
 * - the id is live and the hello shows another key or none: refused. Otherwise anyone with the
 *   cluster secret (a tab that holds it) could close a live node's link and receive its signals.
 *
 * An id admitted without a key (a node of an older version) has no hash: any hello takes its
 * place, as before keys existed.
 */
import { hmacSha256Hex } from '../util/hmac.js'

/** What a service stores for a key: an HMAC under the key of a fixed message (the key itself never leaves the hello). */
export function nodeKeyHash(key: string): string {
  return hmacSha256Hex(key, 'domainmesh-node-key')
}

function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * Why a hello for `nodeId` showing a key that hashes to `shown` must be refused, or undefined if
 * it may take the id. `stored`: the hash kept for the id's current holder; `live`: that holder's
 * link is open and heartbeating as the service sees it.
 */
export function takeOverRefusal(nodeId: string, holder: { live: boolean; stored: string | undefined }, shown: string | undefined): string | undefined {
  if (!holder.live || holder.stored === undefined) return undefined
  if (shown !== undefined && sameHash(holder.stored, shown)) return undefined
  return `node id ${nodeId} is live on another link and this hello does not prove its key`
}
