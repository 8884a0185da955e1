/**
 * The seeds `npm test` runs (sim.test.ts), in one place so that `npm run mutants` (test/mutants)
 * runs exactly the same ones against each planted bug.
 */
import type { FaultSchedule } from './simulator.js'

/** Seeds 1..SEEDS under every fault. */
export const SEEDS = 300

/**
 * Seeds beyond the first 300 that once failed under the classic schedule (crashes between steps
 * only), kept so their bugs stay fixed: 10040 (a primary replaced while cut off carried on with a
 * backup that had restarted empty), 11183 (a deposed primary's retried write put its older record
 * over the copy its successor had sent) and 13800 (repairs piled up behind one client's lock, so a
 * hand-over waited until its only copy was gone) and 247 (update took as its base a replaced
 * primary's uncommitted version, whose number the next primary gave to an increment).
 */
export const CLASSIC_REGRESSIONS = [10040, 11183, 13800, 247]

/**
 * Seeds beyond the first 300 that once failed with every fault: 1751 and 2245 (a patch the client
 * gave up on waited in a paused node's inbox and, forwarded on resume, wrote over the client's
 * later writes), 2107 (a late first request started a second line; the sim crashed the last copy
 * of the first line's session), 2762 (the sim gave a client the session of a create answered
 * after its process died), 1383 and 1441 (a new primary's only probe was lost, and its commit point
 * stayed put: reads waited for ever), 2878 (a node crashed while it restarted was counted as up), 1309 (a backup the
 * primary had replaced took the client over from its stale copy and overwrote newer writes) and
 * 20982 (a healing copy's late snapshot took acknowledged entries back out of a new owner), 10868 (a backup kept its primary's log head from before that
 * primary restarted with a shorter log, skipped the snapshot that would have truncated its tail,
 * and healing never finished) and 116 (a backup holding another primary's tail beyond the new
 * primary's head skipped the snapshot meant to truncate it), 24361 (a backup appended a new
 * primary's entry onto another primary's tail: appends now carry the previous entry's epoch) and
 * 18393 (a snapshot equal to the log was skipped instead of installed), 30432 (a session
 * takeover went on from the copy it had read before a slow probe, after that copy was replaced),
 * 50933 (a restarted primary started a client again as a new line at the same epoch, and the old
 * line's backups dropped its acknowledged session instead of handing it over), 2602 (a primary
 * read that waited for a write to commit answered a later, uncommitted write of a primary then
 * replaced: an update based on it gave the next primary's increment the same version), 2722 (a
 * backup handed a client's sessions to a newer line whose primary then restarted empty: with no
 * line left anywhere, they waited in its hand-over queue until given up), 11139 (a primary that had
 * adopted a paused backup's stale first copy of a session kept it over the acknowledged version
 * handed to it next), 17878 (not a bug of the store: the checker ran out of budget on a dozen
 * concurrent appends of unknown outcome that no read saw; see checkKey in simulator.ts), 14442
 * (a primary paused through the views in which another led its domain led on without syncing
 * from its owners: their copies diverged).
 */
export const REGRESSIONS = [1751, 2107, 2245, 2762, 1383, 1441, 2878, 1309, 20982, 10868, 116, 24361, 18393, 30432, 50933, 2602, 2722, 11139, 17878, 14442]

/**
 * Seeds 1..TAB_SEEDS with durable nodes beside tabs that close for good (simulate's `tabs`, every
 * fault). Before the fix of fault seed 7400 (a tab dropped its domain's durable owner, led alone
 * and closed), 58 of them fail; 23 still with that fix alone, until a departed durable owner was
 * no longer dropped for tabs that could not carry the domain (e.g. 1, 18).
 */
export const TAB_SEEDS = 120

/**
 * Tab seeds beyond them that once failed: 200 (a stand-in dropped the copy a tab had just healed
 * it with, on a view that came late: acknowledged writes read as absent) and 633 (the schedule
 * closed tabs while no durable member was up).
 */
export const TAB_REGRESSIONS = [200, 633]

/** The tab runs of `npm test` (kept apart from `npmTestRuns`, which the mutants runner shares). */
export function npmTestTabRuns(seeds = TAB_SEEDS): number[] {
  return [...Array.from({ length: seeds }, (_, i) => i + 1), ...TAB_REGRESSIONS]
}

export interface SeedRun {
  seed: number
  faults: FaultSchedule
}

/** `seeds` replaces SEEDS (the mutants runner may run fewer); the regressions always run. */
export function npmTestRuns(seeds = SEEDS): SeedRun[] {
  return [
    ...Array.from({ length: seeds }, (_, i) => ({ seed: i + 1, faults: 'all' as const })),
    ...REGRESSIONS.map((seed) => ({ seed, faults: 'all' as const })),
    ...CLASSIC_REGRESSIONS.map((seed) => ({ seed, faults: 'classic' as const })),
  ]
}
