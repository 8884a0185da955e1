/**
 * Where a client's request goes. A node decides from the newer of two sources: the failover token
 * the client sent, and its own entry for the client (a backup may have heard of a newer primary
 * than the client has). "Newer" orders by epoch, then by primary id, so two nodes that promote
 * themselves at the same epoch still have a strict order and only one of them can win.
 */
import type { NodeId } from '../ids.js'
import type { ClientEntry } from './table.js'
import type { FailoverToken } from './token.js'

export interface Authority {
  primary: NodeId
  backups: readonly NodeId[]
  epoch: number
}

/** > 0 when `a` is newer than `b`. */
export function compareAuthority(a: Pick<Authority, 'epoch' | 'primary'>, b: Pick<Authority, 'epoch' | 'primary'>): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch
  return a.primary < b.primary ? -1 : a.primary > b.primary ? 1 : 0
}

/** What a failover token says, without its signature: enough to order two tokens. */
export interface TokenMark {
  primary: NodeId
  epoch: number
  seq?: number
}

/** > 0 when token `a` is newer than `b`: by authority, then by the answer of that primary that issued it. */
export function compareToken(a: TokenMark, b: TokenMark): number {
  return compareAuthority(a, b) || (a.seq ?? 0) - (b.seq ?? 0)
}

export type Route =
  | { kind: 'serve' }
  | { kind: 'create' }
  | { kind: 'forward'; to: NodeId }
  | { kind: 'promote'; from: Authority }
  | { kind: 'need-token' }
  | { kind: 'no-replica'; tried: NodeId[] }

export interface RouteInput {
  self: NodeId
  entry: ClientEntry | undefined
  token: FailoverToken | undefined
  /** Nodes we can reach now. */
  live: ReadonlySet<NodeId>
  /** False once a request has been forwarded as often as allowed. */
  mayForward: boolean
  isCreate: boolean
}

export function route({ self, entry, token, live, mayForward, isCreate }: RouteInput): Route {
  if (entry?.role === 'primary' && (!token || compareAuthority(token, entry) <= 0)) return { kind: 'serve' }
  if (!token) {
    if (!entry) return isCreate ? { kind: 'create' } : { kind: 'need-token' }
    // The primary would serve this without a token too; a backup only passes it on.
    return live.has(entry.primary) && mayForward ? { kind: 'forward', to: entry.primary } : { kind: 'need-token' }
  }
  const auth: Authority = entry && compareAuthority(entry, token) > 0 ? entry : token
  if (auth.primary !== self && live.has(auth.primary) && mayForward) return { kind: 'forward', to: auth.primary }
  for (const b of auth.backups) {
    // Only a copy made under exactly this authority may be promoted: a node that restarted
    // empty, or holds an older copy, is named in the token but must not answer for the client.
    if (b === self) {
      if (entry && compareAuthority(entry, auth) === 0) return { kind: 'promote', from: auth }
    } else if (live.has(b) && mayForward) return { kind: 'forward', to: b }
  }
  return { kind: 'no-replica', tried: [auth.primary, ...auth.backups] }
}
