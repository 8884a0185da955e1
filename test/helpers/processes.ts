/** Node peers as real child processes (the CLI, run through tsx), for integration tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { peerEnvironment } from '../../src/cli/peer-env.js'

const CLI = join(import.meta.dirname, '../../src/cli/main.ts')

/** A TCP port on 127.0.0.1 free right now, for a process a test starts (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface PeerProcess {
  name: string
  proc: ChildProcess
  metricsUrl: string
  output: string[]
  metrics(): Promise<Record<string, unknown> & { objects: number; snapshotsSent: number; snapshotsInstalled: number; peers: string[] }>
  health(): Promise<{ safe: boolean; underReplicated: number[]; epoch: number }>
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * `entry`: a script run in place of the CLI, given the same arguments (the benchmark's watching peer).
 * `env`: more environment for the peer (DOMAINMESH_CLIENT_KEY: admit clients).
 */
export async function spawnPeer(name: string, dataDir: string, topologyUrl: string, secret: string, entry = CLI, env: Record<string, string> = {}): Promise<PeerProcess> {
  const proc = spawn(process.execPath, [...(process.env.DM_PEER_FLAGS ? process.env.DM_PEER_FLAGS.split(' ') : []), ...(process.env.DM_PEER_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.DM_PEER_PROF] : []), '--import', 'tsx', entry, 'node', '--topology', topologyUrl, '--data', dataDir, '--node-id', name, '--cluster', 'it', '--metrics-port', '0'], {
    env: { ...process.env, ...peerEnvironment(), ...env, DOMAINMESH_SECRET: secret },
    // stdin stays open while this process lives: the benchmark peer exits when it ends (dm-peer.ts).
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  // A peer never outlives its parent: a probe or bench that exits early (or is killed by an
  // exception) once left two peers spinning at ~10 % CPU through the next benchmark run.
  const reap = () => proc.kill('SIGKILL')
  process.once('exit', reap)
  proc.once('exit', () => process.removeListener('exit', reap))
  const output: string[] = []
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output.join('')}`)), 30_000)
    let started = false
    const onData = (d: Buffer) => {
      output.push(String(d))
      // Only until it has started: joining all the output on every chunk grew with the run and
      // cost a benchmark's driving process time in the middle of its measurements.
      if (started) return
      const m = /metrics at (http:\/\/[^/\s]+)\/metrics/.exec(output.join(''))
      if (m) {
        started = true
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', (d: Buffer) => output.push(String(d)))
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}: ${output.join('')}`))
    })
  })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return {
    name,
    proc,
    metricsUrl,
    output,
    metrics: async () => (await fetch(`${metricsUrl}/metrics.json`)).json() as never,
    health: async () => (await fetch(`${metricsUrl}/health`)).json() as never,
    kill: async (signal = 'SIGKILL') => {
      proc.kill(signal)
      return exited
    },
  }
}
