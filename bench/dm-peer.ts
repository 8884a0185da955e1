/**
 * A benchmark peer: `domainmesh node`, plus a `from: 'local'` subscription that notes when this
 * node's copy applies each paced write (a negative value, see `paced` in domainmesh.ts), on the
 * same clock as the writer's send times. The times stay here until the benchmark asks for them
 * with an `arrivals` line on stdin, as the Yjs peers keep theirs: a line printed per copy woke
 * the benchmark's process, the writer, while the write's other copy was still on its way. The
 * throughput runs write positive values, but the subscription still costs the peers one event
 * per applied entry in every run: a small handicap for domainmesh, kept so that every figure
 * comes from the same processes.
 */
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { nodeCommand } from '../src/cli/node-command.js'

const node = await nodeCommand(process.argv.slice(3))
let arrivals: string[] = []
node?.store('bench').subscribe({ prefix: 'o' }, (e) => {
  const p = e.change.kind === 'patch' ? e.change.patches[0] : undefined
  if (typeof p?.value === 'number' && p.value < 0) arrivals.push(`arrival ${-p.value} ${performance.timeOrigin + performance.now()}\n`)
}, { from: 'local' })
// The benchmark's process holds our stdin: when it dies, even by a signal that skips its exit
// handlers, the pipe ends and so do we (orphaned peers once skewed a whole benchmark run).
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line !== 'arrivals') return
    process.stdout.write(`${arrivals.join('')}arrivals end\n`)
    arrivals = []
  })
  .on('close', () => process.exit(0))
