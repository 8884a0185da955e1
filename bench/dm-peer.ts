/**
 * A benchmark peer: `domainmesh node`, plus a `from: 'local'` subscription that prints when this
 * node's copy applies each paced write (a negative value, see `paced` in domainmesh.ts), on the
 * same clock as the writer's send times. The throughput runs write positive values and print nothing,
 * but the subscription still costs the peers one event per applied entry in every run: a small
 * handicap for domainmesh, kept so that every figure comes from the same processes.
 */
import { performance } from 'node:perf_hooks'
import { nodeCommand } from '../src/cli/node-command.js'

const node = await nodeCommand(process.argv.slice(3))
node?.store('bench').subscribe({ prefix: 'o' }, (e) => {
  const p = e.change.kind === 'patch' ? e.change.patches[0] : undefined
  if (typeof p?.value === 'number' && p.value < 0) process.stdout.write(`arrival ${-p.value} ${performance.timeOrigin + performance.now()}\n`)
}, { from: 'local' })
// The benchmark's process holds our stdin: when it dies, even by a signal that skips its exit
// handlers, the pipe ends and so do we (orphaned peers once skewed a whole benchmark run).
process.stdin.on('end', () => process.exit(0)).resume()
