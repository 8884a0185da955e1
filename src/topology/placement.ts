/**
 * Placement is a pure function of the view: every node computes the same replica sets. Each
 * domain ranks the members by a rendezvous hash of (domain, nodeId) and takes the first `replicas`;
 * when a member leaves, only the domains it held move. A down member keeps its slots (failover
 * without copying); the primary is the first replica that is up.
 */
import type { NodeId, VirtualServerId } from '../ids.js'
import { hash32 } from '../util/hash.js'
import type { ClusterSettings, View } from './view.js'

export function domainOf(virtualServerId: VirtualServerId, key: string, domainCount: number): number {
  return hash32(`${virtualServerId}\u0000${key}`) % domainCount
}

export interface DomainPlacement {
  readonly domain: number
  /** The replica set, in rank order. */
  readonly replicas: readonly NodeId[]
  /** The first replica that is up, or undefined when every replica is down. */
  readonly primary: NodeId | undefined
}

export function placeDomain(view: View, settings: ClusterSettings, domain: number): DomainPlacement {
  const status = new Map(view.members.map((m) => [m.nodeId, m.status]))
  const pinned = settings.pins?.[domain]?.filter((n) => status.has(n))
  const ranked = pinned?.length
    ? pinned.slice(0, settings.replicas)
    : view.members
        .map((m) => ({ node: m.nodeId, score: hash32(`${domain}:${m.nodeId}`) }))
        .sort((a, b) => b.score - a.score || (a.node < b.node ? -1 : 1))
        .slice(0, settings.replicas)
        .map((r) => r.node)
  return { domain, replicas: ranked, primary: ranked.find((n) => status.get(n) === 'up') }
}

export function placeAll(view: View, settings: ClusterSettings): DomainPlacement[] {
  return Array.from({ length: settings.domainCount }, (_, d) => placeDomain(view, settings, d))
}
