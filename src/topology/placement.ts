/**
 * Placement is a pure function of the view: every node computes the same replica sets. Each
 * domain ranks the members by a rendezvous hash of (domain, nodeId) and takes the first `replicas`;
 * when a member leaves, only the domains it held move. A down member keeps its slots (failover
 * without copying); the primary is the first replica that is up.
 *
 * Durable members (Node peers whose storage is files) come first: a browser tab is ephemeral, it
 * may close at any moment and take its copies with it. When the view holds at least one durable
 * member, each domain's set is the best-ranked durable member plus the best-ranked `replicas - 1`
 * of the others. That is the plain rendezvous top `replicas` whenever it already holds a durable
 * member, and otherwise that top with its last entry swapped for the best durable one, so a
 * member that joins or leaves still moves only domains whose set names it. The set is listed
 * durable members first (each group in rank order): the list's order decides who leads, and a tab
 * must not lead a domain a durable replica can lead. With no durable member in the view (or all
 * durable), placement is exactly the plain ranking.
 *
 * A set whose durable replicas are all down while a tab of it is up gets a **stand-in**: the
 * best-ranked durable member that is up. Until then the tab leads alone, and a tab may close at
 * any moment with what it acknowledged; so its primary commits nothing until a durable member
 * holds the domain (manager.ts), and the stand-in is that member, copied to at once instead of
 * after the heal delay. The set itself (`replicas`) does not change: once a durable replica is up
 * again, or the down one leaves the view, the stand-in is no target any more.
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
  /** A durable member that takes a copy while the set's durable replicas are down (see the top). */
  readonly standIn?: NodeId
}

/** The members that should hold a complete copy of the domain: its replicas and its stand-in. */
export function targetsOf(p: DomainPlacement): readonly NodeId[] {
  return p.standIn === undefined ? p.replicas : [...p.replicas, p.standIn]
}

export function placeDomain(view: View, settings: ClusterSettings, domain: number): DomainPlacement {
  const status = new Map(view.members.map((m) => [m.nodeId, m.status]))
  const up = (n: NodeId) => status.get(n) === 'up'
  const pinned = settings.pins?.[domain]?.filter((n) => status.has(n))
  if (pinned?.length) {
    const set = pinned.slice(0, settings.replicas)
    return { domain, replicas: set, primary: set.find(up) }
  }
  const all = ranking(view, domain)
  const set = pick(all, settings.replicas)
  const standIn = standInFor(all, set, up)
  return { domain, replicas: set, primary: set.find(up), ...(standIn !== undefined ? { standIn } : {}) }
}

interface Ranked {
  readonly node: NodeId
  readonly durable: boolean
}

/** Every member by rendezvous hash of (domain, node), best first. */
function ranking(view: View, domain: number): Ranked[] {
  return view.members
    .map((m) => ({ node: m.nodeId, durable: m.durable === true, score: hash32(`${domain}:${m.nodeId}`) }))
    .sort((a, b) => b.score - a.score || (a.node < b.node ? -1 : 1))
}

/** The set: the top `replicas` of the ranking, with a durable member in it when there is one (see the top). */
function pick(all: readonly Ranked[], replicas: number): NodeId[] {
  const anchor = all.find((r) => r.durable)
  const picked = new Set(anchor ? [anchor, ...all.filter((r) => r !== anchor).slice(0, replicas - 1)] : all.slice(0, replicas))
  const inRank = all.filter((r) => picked.has(r))
  return [...inRank.filter((r) => r.durable), ...inRank.filter((r) => !r.durable)].map((r) => r.node)
}

/** The best-ranked up durable member outside `set`, when its durable replicas are all down and one of its tabs is up. */
function standInFor(all: readonly Ranked[], set: readonly NodeId[], up: (n: NodeId) => boolean): NodeId | undefined {
  const inSet = all.filter((r) => set.includes(r.node))
  if (!inSet.some((r) => r.durable) || inSet.some((r) => r.durable && up(r.node)) || !inSet.some((r) => !r.durable && up(r.node))) return undefined
  return all.find((r) => r.durable && up(r.node) && !set.includes(r.node))?.node
}

export function placeAll(view: View, settings: ClusterSettings): DomainPlacement[] {
  return Array.from({ length: settings.domainCount }, (_, d) => placeDomain(view, settings, d))
}

export interface DomainRoles extends DomainPlacement {
  /** Members holding a complete copy (see View.owners). */
  readonly owners: readonly NodeId[]
  /** Up owners other than the primary: they get every write and must ack it. */
  readonly backups: readonly NodeId[]
  /** Up target replicas (and the stand-in) that are not owners yet: the primary copies the domain to them. */
  readonly healing: readonly NodeId[]
  /**
   * The primary is a tab and a durable member is up among the targets while none of the
   * backups is durable: it commits nothing until a durable backup has the writes (a copy makes
   * one), since the tab may close with the only copy of what it acknowledged.
   */
  readonly needsDurable: boolean
}

/**
 * Who does what for one domain. The primary is the first up target replica that owns the domain
 * (else the first up owner), so a replica that is still being copied never serves; durable
 * owners that are up come before ephemeral ones (a tab never leads what a Node peer can lead).
 */
export function domainRoles(view: View, settings: ClusterSettings, domain: number): DomainRoles {
  if (view.waiting?.includes(domain)) {
    const p = placeDomain(view, settings, domain)
    return { domain, replicas: p.replicas, owners: view.owners?.[domain] ?? [], primary: undefined, backups: [], healing: [], needsDurable: false }
  }
  const p = placeDomain(view, settings, domain)
  const up = new Set(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
  const listed = view.owners?.[domain]
  const owners = listed && listed.length > 0 ? listed : p.replicas
  // A durable owner that is up leads before any tab could: a tab may close with the only copy.
  const durable = new Set(view.members.filter((m) => m.durable === true).map((m) => m.nodeId))
  const lead = (ok: (n: NodeId) => boolean) => p.replicas.find((n) => ok(n) && owners.includes(n)) ?? owners.find(ok)
  const primary = lead((n) => up.has(n) && durable.has(n)) ?? lead((n) => up.has(n))
  const backups = owners.filter((n) => n !== primary && up.has(n))
  const targets = targetsOf(p)
  return {
    domain,
    replicas: p.replicas,
    owners,
    primary,
    backups,
    healing: targets.filter((n) => up.has(n) && !owners.includes(n)),
    needsDurable: primary !== undefined && !durable.has(primary) && !backups.some((n) => durable.has(n)) && targets.some((n) => up.has(n) && durable.has(n)),
  }
}
