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
 * hand-over waited until its only copy was gone).
 */
export const CLASSIC_REGRESSIONS = [10040, 11183, 13800]

export interface SeedRun {
  seed: number
  faults: FaultSchedule
}

/** `seeds` replaces SEEDS (the mutants runner may run fewer); the regressions always run. */
export function npmTestRuns(seeds = SEEDS): SeedRun[] {
  return [...Array.from({ length: seeds }, (_, i) => ({ seed: i + 1, faults: 'all' as const })), ...CLASSIC_REGRESSIONS.map((seed) => ({ seed, faults: 'classic' as const }))]
}
