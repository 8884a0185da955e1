/**
 * A node's tunable options and their checks. Checked when the node is made, so a bad option
 * fails with its name before anything starts.
 */
import { DomainMeshError } from '../errors.js'
import type { Limits } from '../objects/guard.js'
import type { ReplicationTuning } from '../replication/state-manager.js'
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

const wholeFrom0 = (x: number): boolean => Number.isInteger(x) && x >= 0
const from0 = (x: number): boolean => Number.isFinite(x) && x >= 0
const upTo1000 = (x: number): boolean => from0(x) && x <= 1000

/** Each numeric tuning option: what it must be, and how the error says it. */
const TUNING_RULES: readonly (readonly [keyof StoreTuning, (x: number) => boolean, string])[] = [
  ['retainEntries', wholeFrom0, 'a whole number of 0 or more'],
  ['restEntries', wholeFrom0, 'a whole number of 0 or more'],
  ['healPauseRatio', from0, 'a number of 0 or more'],
  ['coolAfterMs', wholeFrom0, 'a whole number of ms, 0 or more'],
  ['healPieceGapMs', upTo1000, 'a number of ms from 0 to 1000'],
  ['healQuietMs', upTo1000, 'a number of ms from 0 to 1000'],
]

export function checkTuning(t: StoreTuning): void {
  for (const [name, ok, what] of TUNING_RULES) {
    const x = t[name]
    if (x !== undefined && !(typeof x === 'number' && ok(x))) throw new InvalidSettingsError(`store.${name} must be ${what}, not ${String(x)}`)
  }
}

export function checkSettings(s: ClusterSettings): ClusterSettings {
  if (!Number.isInteger(s.replicas) || s.replicas < 1 || s.replicas > 5) throw new InvalidSettingsError(`replicas must be 1 to 5, not ${s.replicas}`)
  if (!Number.isInteger(s.domainCount) || s.domainCount < 1 || s.domainCount > 4096) throw new InvalidSettingsError(`domainCount must be 1 to 4096, not ${s.domainCount}`)
  return s
}
