/**
 * npm run sim -- --seeds N [--from S] | --seed S [--steps K]
 * Runs seeds one after another and prints a line per failure with the command that replays it.
 */
import { parseArgs } from 'node:util'
import { fuzzAll, targets } from './fuzz.js'
import { simulate } from './simulator.js'

const { values } = parseArgs({ options: { seeds: { type: 'string' }, seed: { type: 'string' }, from: { type: 'string' }, steps: { type: 'string' }, verbose: { type: 'boolean' } } })
const steps = Number(values.steps ?? 80)
const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds ?? 100) }, (_, i) => Number(values.from ?? 1) + i)
const totals = { seeds: 0, failed: 0, ops: 0, acked: 0, unknown: 0, reads: 0, crashes: 0, restarts: 0, partitions: 0, dropped: 0, duplicated: 0, delayed: 0, sessionOps: 0, sessionAcked: 0, crashesDeferred: 0 }
const started = Date.now()
for (const seed of seeds) {
  const r = await simulate(seed, steps)
  totals.seeds++
  for (const k of Object.keys(r.stats) as (keyof typeof r.stats)[]) totals[k] += r.stats[k]
  if (!r.ok) {
    totals.failed++
    console.log(`seed ${seed} FAILED — replay: npm run sim -- --seed ${seed}${values.steps ? ` --steps ${steps}` : ''}`)
    console.log(r.failures.map((f) => `  ${f.replace(/\n/g, '\n  ')}`).join('\n'))
  } else if (values.verbose) console.log(`seed ${seed} ok ${JSON.stringify(r.stats)}`)
}
console.log(`${totals.seeds} seeds in ${((Date.now() - started) / 1000).toFixed(1)} s: ${totals.ops} operations (${totals.acked} writes acknowledged, ${totals.unknown} of unknown outcome, ${totals.reads} reads checked), ${totals.sessionOps} session calls (${totals.sessionAcked} writes acknowledged), ${totals.crashes} crashes (${totals.crashesDeferred} more deferred until sessions were re-copied), ${totals.restarts} restarts, ${totals.partitions} partitions, ${totals.dropped} frames dropped, ${totals.duplicated} duplicated, ${totals.delayed} delayed; lost writes, lost sessions and divergent replicas found in ${totals.failed} seeds`)
// The sim run also fuzzes every decoder and the patch guard: 100,000 cases in all.
const perTarget = Math.ceil(100_000 / Object.keys(targets).length)
fuzzAll(perTarget, seeds[0])
console.log(`fuzzing: ${perTarget * Object.keys(targets).length} cases over ${Object.keys(targets).length} targets, no crash, only named errors`)
console.log(`${totals.seeds - totals.failed} passed, ${totals.failed} failed`)
process.exit(totals.failed === 0 ? 0 : 1)
