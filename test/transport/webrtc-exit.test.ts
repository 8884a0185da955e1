/**
 * A Node process that used WebRTC exits by itself once its links are closed. An attempt given up
 * before its channel opened (replaced by a newer one while the nodes join) left node-datachannel's native callbacks
 * alive, and the process never exited: the Node example hung after printing its result.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'

let child: ChildProcess | undefined
// A child that never exits is the failure (the test's timeout reports it); it is killed here by
// its handle, whatever the outcome.
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

it('a process whose dialer gave up before the channel opened exits by itself', { timeout: 30_000 }, async () => {
  const c = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lone-dialer.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  child = c
  let out = ''
  c.stdout!.on('data', (d) => (out += String(d)))
  const code = await new Promise((resolve) => c.once('exit', resolve))
  expect(out.trim()).toBe('destroyed')
  expect(code).toBe(0)
})
