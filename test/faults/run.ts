/**
 * `npm run faults -- --schedules N --seed S`: N seeded schedules of real-process faults (kill -9
 * of primaries, SIGSTOP/SIGCONT of the busiest primary, kill -9 of every peer and a restart after
 * the heal delay, kill -9 and restart of the topology service) under write load. Every third
 * schedule runs 5 peers with replicas 3, the others 4 peers with replicas 2. One line per
 * schedule, then "N passed, N failed"; exit code 1 if any failed.
 */
import { parseArgs } from 'node:util'
import { seededRandom } from '../../src/util/random.js'
import { FAULT_KINDS, planFaults, runSchedule, summaryLine, type FaultKind, type ScheduleResult } from './schedule.js'

const { values } = parseArgs({
  options: {
    schedules: { type: 'string', default: '20' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    extra: { type: 'string', default: '2' },
    /** A fixed list instead of the seeded plan, e.g. kill-primary,pause-primary. */
    faults: { type: 'string' },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
  strict: true,
})
const schedules = Number(values.schedules)
const seed = Number(values.seed)
const extra = Number(values.extra)
const fixed = values.faults?.split(',') as FaultKind[] | undefined
if (fixed?.some((f) => !FAULT_KINDS.includes(f))) {
  console.error(`--faults: a comma-separated list of ${FAULT_KINDS.join(', ')}`)
  process.exit(2)
}
if (!Number.isInteger(schedules) || schedules < 1 || !Number.isInteger(seed) || !Number.isInteger(extra) || extra < 0) {
  console.error('usage: npm run faults -- [--schedules N] [--seed S] [--extra FAULTS] [--faults KIND,...] [--verbose]')
  process.exit(2)
}

console.log(`fault schedules: ${schedules}, seed ${seed}`)
let passed = 0
let failed = 0
for (let i = 1; i <= schedules; i++) {
  const s = seed + i - 1
  const big = i % 3 === 0
  let r: ScheduleResult
  try {
    r = await runSchedule({ seed: s, peers: big ? 5 : 4, replicas: big ? 3 : 2, faults: fixed ?? planFaults(seededRandom(s ^ 0x5eed), extra), ...(values.verbose ? { log: (l: string) => console.log(`  ${l}`) } : {}) })
  } catch (err) {
    failed++
    console.log(`schedule ${i} seed ${s}: harness error: ${(err as Error).stack ?? String(err)} — FAILED`)
    continue
  }
  console.log(summaryLine(i, r))
  if (r.passed) passed++
  else {
    failed++
    console.log(`  writer errors: ${JSON.stringify(r.errorCodes)}`)
    for (const f of r.findings.slice(0, 12)) console.log(`  ${f}`)
    if (r.findings.length > 12) console.log(`  … ${r.findings.length - 12} more findings`)
    console.log(r.timeline.map((l) => `  ${l}`).join('\n'))
    if (values.verbose) console.log(r.tails)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
