/**
 * Runs a share of the seeds `npm test` runs (test/sim/npm-test-seeds.ts) and prints one JSON line:
 * `{ "run": n, "failed": [{ "seed", "faults", "why" }] }`. The mutants runner starts it inside a
 * mutated copy of the repository, so the simulator imports the mutated source.
 *   tsx test/mutants/sim-seeds.ts --seeds 300 --shard 0/2
 */
import { parseArgs } from 'node:util'
import { npmTestRuns } from '../sim/npm-test-seeds.js'
import { simulate } from '../sim/simulator.js'

const { values } = parseArgs({ options: { seeds: { type: 'string' }, shard: { type: 'string' } } })
const [index, count] = (values.shard ?? '0/1').split('/').map(Number) as [number, number]
const runs = npmTestRuns(values.seeds === undefined ? undefined : Number(values.seeds)).filter((_, i) => i % count === index)
const failed: { seed: number; faults: string; why: string }[] = []
for (const { seed, faults } of runs) {
  try {
    const r = await simulate(seed, { faults })
    if (!r.ok) failed.push({ seed, faults, why: r.failures[0]?.split('\n')[0]?.slice(0, 200) ?? '' })
  } catch (err) {
    // A planted bug may make the simulator itself throw: that seed caught it too.
    failed.push({ seed, faults, why: `simulate threw: ${String(err).slice(0, 200)}` })
  }
}
process.stdout.write(`${JSON.stringify({ run: runs.length, failed })}\n`)
