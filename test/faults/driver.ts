/**
 * The stdin protocol shared by the fault test's peer and tab processes: writers driven over JSON
 * lines, so that writes are issued from the processes that the test kills, pauses and restarts.
 *
 * In:  {"op":"start","writers":["p1.w0",...],"base":N,"keys":K}  start writers (seqs from N+1)
 *      {"op":"stop"}                                               stop them; answers {"t":"stopped"}
 *      {"op":"read","id":N,"key":K}                                a primary read through the store API
 *      {"op":"close"}                                              leave cleanly (node.close()) and exit
 * Out: {"t":"a",...} per acknowledged write, {"t":"e",...} per failed one (with the error's code),
 *      {"t":"r",...} per read. A line is written the moment the answer arrives: stdout is a pipe,
 *      which Node writes synchronously on Linux, so an ack this process saw is on the test's side
 *      unless the process died within that one write (then no client saw it either).
 */
import { createInterface } from 'node:readline'
import type { DomainMeshError } from '../../src/errors.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import { runWriter, type WriterEvent } from './writer.js'

export function drive(node: MeshNode, close: () => Promise<void>): void {
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
      } else if (cmd.op === 'close') {
        // A tab closed by its user: writers stop where they are (their last write may end
        // unanswered), then the node says goodbye.
        if (running) running.stop = true
        void close().then(
          () => process.exit(0),
          (err: unknown) => {
            console.error('close failed:', err)
            process.exit(1)
          },
        )
      }
    })
    // The test process holds our stdin: if it dies, even by a signal, we go too.
    .on('close', () => process.exit(0))
}
