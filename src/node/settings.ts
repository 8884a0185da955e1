/**
 * A node's tunable options and their checks. Checked when the node is made, so a bad option
 * fails with its name before anything starts.
 */
import { DomainMeshError } from '../errors.js'
import type { Limits } from '../state/guard.js'
import type { ClusterSettings } from '../topology/view.js'

export class InvalidSettingsError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_SETTINGS', `invalid cluster settings: ${why}`)
  }
}

export interface StoreTuning {
  /** Backups that must ack a write: 'all' live ones (default) or a number. */
  writeAcks?: 'all' | number
  writeTimeoutMs?: number
  resendAfterMs?: number
  compactBytes?: number
  /**
   * Log entries each domain keeps in memory beyond what every copy holds (default 128), so an
   * owner that was away briefly catches up by deltas; one further behind gets a snapshot.
   */
  retainEntries?: number
  /**
   * What a quiet domain keeps of that when it is cooled (see coolAfterMs; default 32, never more
   * than retainEntries): an owner that comes back to a domain nobody writes to any more and
   * missed more than this gets a snapshot instead of the entries.
   */
  restEntries?: number
  /** After each domain copy while healing, pause this many times as long as the copy took (default 1; 0: no pause). */
  healPauseRatio?: number
  /** Between the pieces of one healing copy (128 log entries or objects each), wait this long (default 5 ms; 0: one event-loop turn). */
  healPieceGapMs?: number
  /** Before each piece of a healing copy, wait until this node has seen no write for this long, 25 ms at most (default 3 ms; 0: never wait). */
  healQuietMs?: number
  /** A domain with no write for 1-2 × this keeps its log and objects encoded until used (default 10,000 ms; 0: never). */
  coolAfterMs?: number
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
