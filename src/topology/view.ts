/** The membership list the topology service publishes, numbered by an increasing epoch. */
import type { NodeId } from '../ids.js'
import type { MemberInfo } from '../routing/engine.js'

export interface View {
  readonly epoch: number
  /** Every member, `up` or `down` (a down member keeps its slots until it leaves the view). */
  readonly members: readonly MemberInfo[]
  /**
   * Per domain, the members that hold a complete copy. Placement says where a domain should be;
   * owners say where it is. A target replica that is not yet an owner is being healed and never
   * serves. Absent (a static topology): every target replica counts as an owner.
   */
  readonly owners?: Readonly<Record<number, readonly NodeId[]>>
  /**
   * Domains that have no primary until a listed owner reports its copy: a topology service that
   * lost its state and rebuilt it from the nodes' last views waits, for each domain, until every
   * owner that view listed has said where its copy ends, then keeps the newest.
   */
  readonly waiting?: readonly number[]
}

export interface ClusterSettings {
  /** Partitions per virtual server (default 64). */
  readonly domainCount: number
  /** Copies of each domain, primary included (default 2). */
  readonly replicas: number
  /** Domains pinned to nodes by a static topology: domain → replica set, primary first. */
  readonly pins?: Readonly<Record<number, readonly NodeId[]>>
}

export const DEFAULT_SETTINGS: ClusterSettings = { domainCount: 64, replicas: 2 }

export const isUp = (view: View, node: NodeId): boolean => view.members.some((m) => m.nodeId === node && m.status === 'up')
