/**
 * npm run sim -- --seeds N [--from S] [--faults classic|all] [--tabs] | --seed S [--steps K]
 * --tabs: durable nodes and ephemeral tabs that close for good (see simulator.ts).
 * Runs seeds one after another and prints a line per failure with the command that replays it.
 * SIM_TRACE=1 with --seed prints every action and operation of that seed.
 */
import { parseArgs } from 'node:util'
import { fuzzAll, targets } from './fuzz.js'
import { simulate, type FaultSchedule } from './simulator.js'

const { values } = parseArgs({ options: { seeds: { type: 'string' }, seed: { type: 'string' }, from: { type: 'string' }, steps: { type: 'string' }, faults: { type: 'string' }, verbose: { type: 'boolean' }, 'no-fuzz': { type: 'boolean' }, tabs: { type: 'boolean' } } })
const steps = Number(values.steps ?? 80)
const faults = (values.faults ?? 'all') as FaultSchedule
const tabs = values.tabs ?? false
if (faults !== 'all' && faults !== 'classic') throw new Error(`--faults must be "all" or "classic", not ${JSON.stringify(values.faults)}`)
const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds ?? 100) }, (_, i) => Number(values.from ?? 1) + i)
const totals: Record<string, number> = { seeds: 0, failed: 0 }
const started = Date.now()
const failed: number[] = []
/** What kind of failure each line is, for the summary (a seed may show several). */
const KINDS: [string, RegExp][] = [
  ['absent read', /answered "absent"/],
  ['final read failed', /final read|final reads did not return/],
  ['key history not linearizable', /^key .*not linearizable/],
  ['session history not linearizable', /^session .*not linearizable/],
  ['divergent replicas', /owners .* differ/],
  ['not settled', /did not settle/],
  ['sessions not re-copied', /^sessions: after healing/],
  ['domain without a primary', /no primary after healing|does not lead it/],
]
const byKind = new Map<string, number[]>()
for (const seed of seeds) {
  const r = await simulate(seed, { steps, faults, tabs })
  totals.seeds!++
  for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v
  if (!r.ok) {
    totals.failed!++
    failed.push(seed)
    for (const [kind, re] of KINDS) if (r.failures.some((f) => re.test(f))) byKind.set(kind, [...(byKind.get(kind) ?? []), seed])
    const extra = `${values.steps ? ` --steps ${steps}` : ''}${faults !== 'all' ? ` --faults ${faults}` : ''}${tabs ? ' --tabs' : ''}`
    console.log(`seed ${seed} FAILED — replay: npm run sim -- --seed ${seed}${extra}`)
    console.log(r.failures.map((f) => `  ${f.replace(/\n/g, '\n  ')}`).join('\n'))
  } else if (values.verbose) console.log(`seed ${seed} ok ${JSON.stringify(r.stats)}`)
}
const t = (k: string) => totals[k] ?? 0
console.log(
  `${t('seeds')} seeds (${faults} faults${tabs ? ', durable nodes and tabs' : ''}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${t('ops')} operations (${t('acked')} writes acknowledged, ${t('rejected')} definitely rejected, ${t('unknown')} of unknown outcome, ${t('reads')} reads checked; ${t('casSent')} compare-and-set patches sent, ${t('casAcked')} acknowledged; ${t('conflicts')} conflicts), ` +
    `${t('sessionOps')} session calls (${t('sessionAcked')} writes acknowledged), ${t('crashes')} crashes (${t('timerCrashes')} from a timer mid-step, ${t('ackCrashes')} of a primary as an ack arrived; ${t('crashesDeferred')} more deferred until sessions were re-copied), ` +
    `${t('restarts')} restarts, ${t('pauses')} pauses, ${t('clusterCrashes')} whole-cluster crashes, ${t('serviceCrashes')} topology-service restarts, ${t('partitions')} partitions, ${t('dropped')} frames dropped, ${t('duplicated')} duplicated, ${t('delayed')} delayed; ` +
    `${tabs ? `${t('tabCloses')} tabs closed for good (${t('leaderCloses')} right after the durable owner of a domain they led went down; ${t('tabClosesDeferred')} closes put off), ${t('tabOpens')} opened; ` : ''}failures in ${t('failed')} seeds${failed.length ? ` (${failed.join(' ')})` : ''}`,
)
for (const [kind, list] of byKind) console.log(`  ${kind}: ${list.length} seeds (${list.join(' ')})`)
if (!values['no-fuzz']) {
  // The sim run also fuzzes every decoder and the patch guard: 100,000 cases in all.
  const perTarget = Math.ceil(100_000 / Object.keys(targets).length)
  fuzzAll(perTarget, seeds[0])
  console.log(`fuzzing: ${perTarget * Object.keys(targets).length} cases over ${Object.keys(targets).length} targets, no crash, only named errors`)
}
console.log(`${t('seeds') - t('failed')} passed, ${t('failed')} failed`)
process.exit(t('failed') === 0 ? 0 : 1)
