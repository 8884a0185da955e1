/**
 * A fault-test peer: `domainmesh node` plus writers driven over stdin (JSON lines), so that writes
 * are issued from the peer processes that the test kills, pauses and restarts.
 *
 * In:  {"op":"start","writers":["p1.w0",...],"base":N,"keys":K}  start writers (seqs from N+1)
 *      {"op":"stop"}                                               stop them; answers {"t":"stopped"}
 *      {"op":"read","id":N,"key":K}                                a primary read through the store API
 * Out: {"t":"a",...} per acknowledged write, {"t":"e",...} per failed one (with the error's code),
 *      {"t":"r",...} per read. A line is written the moment the answer arrives: stdout is a pipe,
 *      which Node writes synchronously on Linux, so an ack this process saw is on the test's side
 *      unless the process died within that one write (then no client saw it either).
 *
 * Each writer owns its keys (writer.ts) and writes one change at a time.
 */
import { createInterface } from 'node:readline'
import { nodeCommand } from '../../src/cli/node-command.js'
import type { DomainMeshError } from '../../src/errors.js'
import { runWriter, type WriterEvent } from './writer.js'

const node = await nodeCommand(process.argv.slice(3))
if (!node) process.exit(0)
const store = node.store('faults')
let running: { stop: boolean; done: Promise<void>[] } | undefined
const emit = (e: WriterEvent | Record<string, unknown>) => void process.stdout.write(`${JSON.stringify(e)}\n`)

async function stop(): Promise<void> {
  if (!running) return
  running.stop = true
  await Promise.all(running.done)
  running = undefined
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const cmd = JSON.parse(line) as { op: string; writers?: string[]; base?: number; keys?: number; id?: number; key?: string }
    if (cmd.op === 'start') {
      const r = { stop: false, done: [] as Promise<void>[] }
      r.done = (cmd.writers ?? []).map((w) => runWriter(store, w, cmd.base ?? 0, cmd.keys ?? 4, () => r.stop, emit))
      running = r
    } else if (cmd.op === 'stop') {
      void stop().then(() => emit({ t: 'stopped' }))
    } else if (cmd.op === 'read') {
      store.get(cmd.key!).then(
        (value) => emit({ t: 'r', id: cmd.id, found: value !== undefined, value: value ?? null }),
        (err: DomainMeshError) => emit({ t: 'r', id: cmd.id, code: err.code ?? 'INTERNAL', message: String(err.message).slice(0, 300) }),
      )
    }
  })
  // The test process holds our stdin: if it dies, even by a signal, we go too.
  .on('close', () => process.exit(0))
