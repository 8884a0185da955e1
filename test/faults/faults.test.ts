/**
 * The short real-process fault schedule (`npm run faults` runs long seeded ones): a topology
 * service, 4 peers and 2 tabs (ephemeral members, tab.ts) as processes, replicas 2, 12 writers
 * in the peers and tabs appending with update, patch and put, through kill -9 of a primary and its
 * restart, SIGSTOP of the busiest primary for 6 s with writes queued on it, a tab closed (or
 * killed) and another opened, a peer back under its id on an empty disk (its data folder deleted),
 * kill -9 of every peer (the tabs stay open) with the cluster down past the heal delay,
 * kill -9 and restart of the topology service, and one more primary killed after that. At the end
 * every acknowledged write must be in the primary's answer and on every owner's own copy, no
 * acknowledged key may ever have read as absent, and reads made through a peer the moment it comes
 * back (SIGCONT, restart) must hold every write acknowledged before them.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { FaultCluster } from './cluster.js'
import { runSchedule, summaryLine } from './schedule.js'

const clusters = new Set<FaultCluster>()
// runSchedule stops its processes itself; this covers a test that vitest abandons on its timeout.
afterAll(async () => {
  for (const c of clusters) await c.close()
})

describe('real processes under faults', () => {
  it('kill -9, pause, tab churn, a wiped disk, kill-all and topology restart: no acknowledged write lost, no replica differs, no acked key absent', { timeout: 360_000 }, async () => {
    const r = await runSchedule({
      seed: 30,
      peers: 4,
      replicas: 2,
      faults: ['kill-primary', 'pause-primary', 'tab-churn', 'wipe-peer', 'kill-all', 'topology-restart', 'kill-primary'],
      gapMs: [2000, 3000],
      settleMs: 60_000,
      onCluster: (c) => clusters.add(c),
      // DM_FAULTS_VERBOSE=1: the timeline as it happens (the failure message has it too).
      ...(process.env.DM_FAULTS_VERBOSE ? { log: (l: string) => process.stderr.write(`${l}\n`) } : {}),
    })
    const report = [summaryLine(1, r), `writer errors: ${JSON.stringify(r.errorCodes)}`, ...r.findings.slice(0, 15), ...r.timeline, r.tails].join('\n')
    // Writes were acknowledged through every fault, so the check below had something to find.
    expect(r.acked, report).toBeGreaterThan(1000)
    expect({ lost: r.lost, divergent: r.divergent, absent: r.absent, absentDuringRun: r.absentDuringRun, refusedButApplied: r.phantom, failedReads: r.readErrors, staleReads: r.staleReads, unsettled: r.unsettled, harness: r.failures }, report).toEqual({
      lost: 0,
      divergent: 0,
      absent: 0,
      absentDuringRun: 0,
      refusedButApplied: 0,
      failedReads: 0,
      staleReads: 0,
      unsettled: undefined,
      harness: [],
    })
  })
})
