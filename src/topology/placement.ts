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

export interface DomainRoles extends DomainPlacement {
  /** Members holding a complete copy (see View.owners). */
  readonly owners: readonly NodeId[]
  /** Up owners other than the primary: they get every write and must ack it. */
  readonly backups: readonly NodeId[]
  /** Up target replicas that are not owners yet: the primary copies the domain to them. */
  readonly healing: readonly NodeId[]
}

/**
 * Who does what for one domain. The primary is the first up target replica that owns the domain
 * (else the first up owner), so a replica that is still being copied never serves.
 */
export function domainRoles(view: View, settings: ClusterSettings, domain: number): DomainRoles {
  const p = placeDomain(view, settings, domain)
  const up = new Set(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
  const listed = view.owners?.[domain]
  const owners = listed && listed.length > 0 ? listed : p.replicas
  const primary = p.replicas.find((n) => up.has(n) && owners.includes(n)) ?? owners.find((n) => up.has(n))
  return {
    domain,
    replicas: p.replicas,
    owners,
    primary,
    backups: owners.filter((n) => n !== primary && up.has(n)),
    healing: p.replicas.filter((n) => up.has(n) && !owners.includes(n)),
  }
}
