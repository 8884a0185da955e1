/**
 * The topology service's durable state: the last view epoch, the members, and per domain the
 * owners (the members proven to hold a complete copy). Epochs must never go back and owners must
 * never be guessed, so the service saves this before it publishes a view, and a restarted service
 * loads it before it admits anyone. One small interface so that a replicated engine (etcd) can
 * take it over; the embedded default is one file next to the service (topology-state-file.ts).
 */
import * as v from '../util/schema.js'
import { DomainMeshError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { EngineInfo } from '../routing/engine.js'
import { MemberSchema, SettingsSchema } from '../topology/protocol.js'
import type { ClusterSettings } from '../topology/view.js'

export interface StoredMember {
  readonly nodeId: NodeId
  readonly status: 'up' | 'down'
  readonly engines: readonly EngineInfo[]
  readonly durable?: boolean
  /** The hash of the node key its last admitted hello showed (src/server/node-keys.ts); absent for a node without a key. */
  readonly keyHash?: string
}

export interface TopologyState {
  readonly clusterId: string
  readonly settings: ClusterSettings
  /** The epoch of the last view published (saved before it was sent). */
  readonly epoch: number
  readonly members: readonly StoredMember[]
  /** Domain → its owners. A domain that is absent has never had one (a new cluster). */
  readonly owners: Readonly<Record<number, readonly NodeId[]>>
  /** Domains rebuilt after a lost state that still wait for their owners' reports (see TopologyService). */
  readonly waiting?: readonly number[]
}

export interface TopologyStateStore {
  /** The saved state, or undefined if nothing was ever saved. Throws TopologyStateError if what is there cannot be read. */
  load(): Promise<TopologyState | undefined>
  /** Resolves once `state` is durable; saves are called one at a time, in order. */
  save(state: TopologyState): Promise<void>
}

export class TopologyStateError extends DomainMeshError {
  constructor(where: string, why: string) {
    super('TOPOLOGY_STATE', `topology state ${where}: ${why}`, { where, why })
  }
}

const StateSchema = v.object({
  clusterId: v.string(),
  settings: SettingsSchema,
  epoch: v.pipe(v.number(), v.integer(), v.minValue(0)),
  members: v.array(v.object({ ...MemberSchema.entries, keyHash: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))) })),
  owners: v.record(v.pipe(v.string(), v.regex(/^\d+$/)), v.array(MemberSchema.entries.nodeId)),
  waiting: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(0)))),
})

/** Checks a loaded state; `where` names its origin in the error. */
export function parseTopologyState(raw: unknown, where: string): TopologyState {
  const parsed = v.safeParse(StateSchema, raw)
  if (!parsed.success) throw new TopologyStateError(where, `not a topology state (${parsed.issues[0]?.message ?? 'invalid'} at ${v.getDotPath(parsed.issues[0]!) ?? 'top'})`)
  return parsed.output as unknown as TopologyState
}

/** Kept in memory: survives a TopologyService being replaced in the same process (tests, simulation). */
export class MemoryTopologyStateStore implements TopologyStateStore {
  private saved: string | undefined
  /** Saves so far (tests). */
  saves = 0

  load(): Promise<TopologyState | undefined> {
    return Promise.resolve(this.saved === undefined ? undefined : parseTopologyState(JSON.parse(this.saved), 'in memory'))
  }

  save(state: TopologyState): Promise<void> {
    this.saved = JSON.stringify(state)
    this.saves++
    return Promise.resolve()
  }

  /** Forgets everything, as a lost state file (tests). */
  wipe(): void {
    this.saved = undefined
  }
}
