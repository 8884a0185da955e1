/**
 * 300 seeds of the deterministic simulation with every fault (crashes between steps, from a timer
 * mid-step and as an ack reaches a primary; process pauses; whole-cluster crashes; topology-service
 * restarts; partitions, drops, duplicates, delays) under concurrent writes and reads.
 * `npm run sim -- --seeds 10000` runs more.
 */
import { describe, expect, it } from 'vitest'
import { npmTestRuns, npmTestTabRuns, SEEDS, TAB_SEEDS } from './npm-test-seeds.js'
import { simulate, type SimOptions, type SimStats } from './simulator.js'

/**
 * Runs every seed, fails with each failing seed's replay command and findings, and returns the
 * sum of each stat: the callers check that the schedule did what it says.
 */
async function runSeeds(runs: readonly { seed: number; opts: SimOptions; replay: string }[]): Promise<SimStats> {
  const failed: string[] = []
  let totals: SimStats | undefined
  for (const { seed, opts, replay } of runs) {
    const r = await simulate(seed, opts)
    if (!totals) totals = { ...r.stats }
    else for (const k of Object.keys(totals) as (keyof SimStats)[]) totals[k] += r.stats[k]
    if (!r.ok) failed.push(`seed ${seed} (replay: npm run sim -- --seed ${seed}${replay}):\n${r.failures.join('\n')}`)
  }
  expect(failed, `${failed.length} seeds failed:\n${failed.join('\n\n')}`).toEqual([])
  return totals!
}

describe('deterministic simulation', () => {
  it(`${SEEDS} seeds: every key and session history linearizable, no acked write or session lost, no acked key read as absent, every final read answers, every domain's owners converge`, { timeout: 600_000 }, async () => {
    const totals = await runSeeds(npmTestRuns().map(({ seed, faults }) => ({ seed, opts: { faults }, replay: faults === 'classic' ? ' --faults classic' : '' })))
    // The schedule did what it says (a change that stops a fault from happening fails here).
    expect(totals.ops).toBeGreaterThan(8000)
    expect(totals.crashes).toBeGreaterThan(500)
    expect(totals.sessionAcked).toBeGreaterThan(1000)
    expect(totals.pauses).toBeGreaterThan(200)
    expect(totals.clusterCrashes).toBeGreaterThan(100)
    expect(totals.serviceCrashes).toBeGreaterThan(150)
    expect(totals.timerCrashes).toBeGreaterThan(150)
    expect(totals.ackCrashes).toBeGreaterThan(100)
    // Compare-and-set writes taken and refused: with the primary's check removed, seeds fail.
    expect(totals.casAcked).toBeGreaterThan(600)
    expect(totals.conflicts).toBeGreaterThan(60)
  })

  it(`${TAB_SEEDS} seeds with durable nodes and tabs that close for good at any time while a durable member is up: the same checks, and every domain has a primary after healing`, { timeout: 300_000 }, async () => {
    const totals = await runSeeds(npmTestTabRuns().map((seed) => ({ seed, opts: { tabs: true }, replay: ' --tabs' })))
    // Tabs did close, some right after the durable owner of a domain they led went down.
    expect(totals.acked).toBeGreaterThan(2500)
    expect(totals.tabCloses).toBeGreaterThan(500)
    expect(totals.leaderCloses).toBeGreaterThan(8)
    expect(totals.tabOpens).toBeGreaterThan(450)
    expect(totals.crashes).toBeGreaterThan(350)
    expect(totals.clusterCrashes).toBeGreaterThan(70)
  })
})
