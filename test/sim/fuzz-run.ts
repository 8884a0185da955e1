/** npm run fuzz -- [--runs N]: every fuzz target, N cases each (default 100,000). */
import { parseArgs } from 'node:util'
import { fuzzAll, targets } from './fuzz.js'

const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' } } })
const runs = Number(values.runs ?? 100_000)
const started = Date.now()
const done = fuzzAll(runs, Number(values.seed ?? 42))
console.log(`${done.length} targets × ${runs} cases = ${done.length * runs} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: no crash, no unnamed error, no prototype pollution (${Object.keys(targets).join('; ')})`)
console.log(`${done.length} passed, 0 failed`)
