/**
 * The doc string and table group of each store option (tuning.ts holds its check and default).
 * Only the docs table (scripts/options-table.ts) and tests import this, so the browser bundle
 * does not carry it; every option of the schema must be here (a type error otherwise). Options
 * in the `advanced` group are the dials the benchmarks turn (memory against catch-up, healing
 * against foreground writes); an application seldom needs them.
 */
import type { TuningName } from './tuning.js'

/** Which table an option is listed in: `store` (what an application sets) or `advanced` (benchmark dials). */
export type TuningGroup = 'store' | 'advanced'

export const TUNING_DOCS: { readonly [K in TuningName]: { group: TuningGroup; doc: string } } = {
  writeAcks: { group: 'store', doc: "Backups that must ack a write before it is acknowledged: 'all' live ones, or a number (all, if fewer are live)." },
  writeTimeoutMs: { group: 'store', doc: 'How long a write may take, its retries while placement settles included, before it fails (OutcomeUnknownError once it reached the primary).' },
  resendAfterMs: { group: 'store', doc: 'How long an unacknowledged append, resend request or healing piece waits before it is sent again.' },
  compactBytes: { group: 'advanced', doc: "Bytes of log segments per domain on disk before a snapshot replaces them." },
  retainEntries: { group: 'advanced', doc: 'Log entries each domain keeps in memory beyond what every copy holds: an owner away briefly catches up by these; one further behind gets a snapshot.' },
  restEntries: { group: 'advanced', doc: 'What a cooled (quiet) domain keeps of those, never more than retainEntries.' },
  healPauseRatio: { group: 'advanced', doc: 'After each healing copy, pause this many times as long as the copy took (0: no pause).' },
  healPieceGapMs: { group: 'advanced', doc: 'Wait between the pieces (128 entries or objects) of one healing copy (0: one event-loop turn).' },
  healQuietMs: { group: 'advanced', doc: 'Before each piece of a healing copy, wait until no write was seen for this long (25 ms at most; 0: never wait).' },
  coolAfterMs: { group: 'advanced', doc: 'A domain with no write for 1-2 × this keeps its log and objects encoded until used (0: never).' },
  'limits.maxKeyLength': { group: 'store', doc: 'Longest key, in characters.' },
  'limits.maxDepth': { group: 'store', doc: 'Deepest nesting of a value or a patch path.' },
  'limits.maxValueBytes': { group: 'store', doc: 'Largest value (or patch), in bytes as encoded.' },
  'limits.maxOps': { group: 'store', doc: 'Most operations one patch may carry.' },
}
