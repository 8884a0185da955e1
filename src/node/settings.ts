/**
 * A node's tunable options and their checks. Checked when the node is made, so a bad option
 * fails with its name before anything starts.
 */
import * as v from '../util/schema.js'
import { DomainMeshError } from '../errors.js'
import type { Limits } from '../objects/guard.js'
import type { ReplicationTuning } from '../replication/state-manager.js'
import { TUNING_OPTIONS } from '../replication/tuning.js'
import type { ClusterSettings } from '../topology/view.js'

export class InvalidSettingsError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_SETTINGS', `invalid cluster settings: ${why}`)
  }
}

/** A node's `store` option: the replication tuning (state-manager.ts) and the input limits. */
export interface StoreTuning extends ReplicationTuning {
  limits?: Partial<Limits>
}

/** Checks every option given against its schema (replication/tuning.ts); unknown names are left alone. */
export function checkTuning(t: StoreTuning): void {
  for (const o of TUNING_OPTIONS) {
    const x = o.name.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], t)
    if (x !== undefined && !v.is(o.schema, x)) throw new InvalidSettingsError(`store.${o.name} must be ${o.must}, not ${String(x)}`)
  }
}

export function checkSettings(s: ClusterSettings): ClusterSettings {
  if (!Number.isInteger(s.replicas) || s.replicas < 1 || s.replicas > 5) throw new InvalidSettingsError(`replicas must be 1 to 5, not ${s.replicas}`)
  if (!Number.isInteger(s.domainCount) || s.domainCount < 1 || s.domainCount > 4096) throw new InvalidSettingsError(`domainCount must be 1 to 4096, not ${s.domainCount}`)
  return s
}
