/**
 * The topology manager of one node: follows the views, serves them as the router's directory, and
 * decides what each view means for this node. `planView` is that decision, a pure function: a view
 * and what this node holds in, each domain's roles and one plan per domain out (lead it, and with
 * which backups, whether to sync first and whom to heal; follow a primary; drop the copy). The
 * state manager (replication/state-manager.ts) carries the plans out; it never reads placement
 * itself to decide a role, and never sees the topology service.
 */
import type { NodeId } from '../ids.js'
import type { Directory, MemberInfo } from '../routing/engine.js'
import { Emitter } from '../util/events.js'
import { domainRoles, type DomainRoles } from './placement.js'
import type { ClusterSettings, View } from './view.js'

export interface TopologyEvents {
  view: { view: View }
}

export class TopologyManager implements Directory {
  readonly events = new Emitter<TopologyEvents>()
  private current: View = { epoch: 0, members: [] }

  constructor(private readonly onView: (view: View) => void) {}

  members(): readonly MemberInfo[] {
    return this.current.members
  }

  view(): View {
    return this.current
  }

  /** Takes a newer view; an older or equal epoch is ignored (views can arrive out of order). */
  applyView(view: View): boolean {
    if (view.epoch <= this.current.epoch) return false
    this.current = view
    this.onView(view)
    this.events.emit('view', { view })
    return true
  }
}

/** What this node holds of one domain, as far as a plan depends on it. */
export interface HeldCopy {
  readonly role: 'primary' | 'backup'
  /** Targets this node, as primary, finished copying the domain to (not yet listed as owners). */
  readonly healed: ReadonlySet<NodeId>
  /** The copy was found damaged or lost and nothing has replaced it yet. */
  readonly damaged: boolean
}

/** This node as the planner sees it: who it is, the last view it took, what it holds. */
export interface PlanInput {
  readonly self: NodeId
  readonly settings: ClusterSettings
  /** Epoch of the last view this node took; undefined before the first. */
  readonly lastEpoch: number | undefined
  /** This node's copy of `domain`, if it holds one. */
  held(domain: number): HeldCopy | undefined
  /** Whether this node's copy of `domain` is marked lost (damaged, or gone with its disk). */
  lost(domain: number): boolean
}

/** What this node does with one domain under a view. */
export type DomainAction =
  | {
      readonly kind: 'lead'
      /** Every backup that gets each write: the view's up owners, and targets already copied to. */
      readonly backups: readonly NodeId[]
      /** Listed owners that are down: commits wait until a view drops them (down-owners.ts). */
      readonly down: readonly NodeId[]
      /** Fetch what the other owners hold before serving (a promotion, or views this node missed). */
      readonly sync: boolean
      /** Targets to copy the domain to (none while this node's copy is damaged). */
      readonly heal: readonly NodeId[]
      /** Targets copied to that are still targets: the rest are forgotten (owners now, or gone). */
      readonly keepHealed: readonly NodeId[]
      /** This node is a tab without a durable backup: commits wait until one of these durable members is a backup. */
      readonly durableNeeded?: readonly NodeId[]
    }
  | {
      readonly kind: 'follow'
      /** A listed owner (catches up by deltas at once); else a healing target, fed by a copy. */
      readonly owner: boolean
      /** The primary to follow; undefined when the view gives the domain none. */
      readonly primary: NodeId | undefined
      /** Copies a write the primary commits is on: the primary and its backups. */
      readonly ownerCount: number
    }
  /** Neither owner nor target any more: the domain lives elsewhere, the copy here goes. */
  | { readonly kind: 'drop' }
  /** Nothing held and nothing to hold (or a static topology, which never drops a copy). */
  | { readonly kind: 'none' }

export interface DomainPlan {
  readonly domain: number
  readonly roles: DomainRoles
  readonly action: DomainAction
  /** The copy here was marked lost and the view no longer lists this node as owner: the marker goes (healing brings a whole copy). */
  readonly forgetLoss: boolean
  /** The copy here is lost yet the view lists this node as an owner next to others: report it lagging so the service drops it. */
  readonly reportLost: boolean
  /** Whether the copy here (kept or made) is damaged under this view: it never serves until a copy replaces it. */
  readonly damaged: boolean
}

export interface ViewPlan {
  readonly view: View
  /** Each domain's roles under the view, by domain. */
  readonly roles: readonly DomainRoles[]
  /** One plan per domain, by domain. */
  readonly domains: readonly DomainPlan[]
}

/**
 * What `view` means for this node, domain by domain; undefined if the view is not newer than the
 * last one taken (views can arrive out of order). No I/O: the same input gives the same plan.
 */
export function planView(view: View, input: PlanInput): ViewPlan | undefined {
  if (input.lastEpoch !== undefined && view.epoch <= input.lastEpoch) return undefined
  // Views this node never saw (it was paused, or cut off from the service): in them another
  // node may have led a domain this node leads again now, and written entries its backups hold
  // and it lacks. Its role never left 'primary', so it must sync from its owners as a newly
  // promoted primary does (seed 14442: it led on without, and the owners diverged).
  const missedViews = input.lastEpoch !== undefined && view.epoch > input.lastEpoch + 1
  const up = new Set(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
  const roles: DomainRoles[] = []
  const domains: DomainPlan[] = []
  for (let d = 0; d < input.settings.domainCount; d++) {
    const r = domainRoles(view, input.settings, d)
    roles.push(r)
    domains.push(planDomain(view, r, input, up, missedViews))
  }
  return { view, roles, domains }
}

function planDomain(view: View, roles: DomainRoles, input: PlanInput, up: ReadonlySet<NodeId>, missedViews: boolean): DomainPlan {
  const { self } = input
  const d = roles.domain
  const held = input.held(d)
  const owner = roles.owners.includes(self)
  const markedLost = input.lost(d)
  const forgetLoss = markedLost && !owner
  const lost = markedLost && !forgetLoss
  const reportLost = lost && roles.owners.length > 1
  // A damaged copy is whole again once a view lists this node as owner after a copy replaced it.
  const damaged = lost || (held?.damaged === true && !owner)
  const plan = { domain: d, roles, forgetLoss, reportLost, damaged }
  if (roles.primary === self) {
    const wasPrimary = held?.role === 'primary'
    // A target we already copied to stays a backup until the view lists it as an owner; once it
    // is an owner (or no target any more, and may have dropped its copy) we forget it.
    const keepHealed = held ? [...held.healed].filter((n) => roles.healing.includes(n)) : []
    const done = wasPrimary ? roles.healing.filter((n) => held.healed.has(n)) : []
    return {
      ...plan,
      action: {
        kind: 'lead',
        backups: [...roles.backups, ...done],
        down: roles.owners.filter((o) => o !== self && !up.has(o)),
        sync: (!wasPrimary || missedViews) && roles.backups.length > 0,
        // A damaged copy is never copied on: it would pass for the domain's data.
        heal: damaged ? [] : roles.healing.filter((n) => !done.includes(n)),
        keepHealed,
        ...(roles.needsDurable ? { durableNeeded: view.members.filter((m) => m.durable === true).map((m) => m.nodeId) } : {}),
      },
    }
  }
  if (owner || roles.healing.includes(self)) {
    return { ...plan, action: { kind: 'follow', owner, primary: roles.primary, ownerCount: roles.backups.length + 1 } }
  }
  return { ...plan, action: held && view.owners ? { kind: 'drop' } : { kind: 'none' } }
}

/** Targets a primary still has to copy `roles`' domain to, given those it finished. */
export function healTargets(roles: DomainRoles, healed: ReadonlySet<NodeId>): NodeId[] {
  return roles.healing.filter((n) => !healed.has(n))
}
