/**
 * Child processes of the fault test: the topology service (the CLI) and peers (peer.ts). Each is
 * held by its own handle from the moment it is spawned, so a start that never reports ready is
 * still stopped by whoever owns the handle (test/helpers/processes.ts gives no handle back then).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { peerEnvironment } from '../../src/cli/peer-env.js'

export const CLI = join(import.meta.dirname, '../../src/cli/main.ts')
export const PEER = join(import.meta.dirname, 'peer.ts')

export class ChildHandle {
  readonly proc: ChildProcess
  /** Its non-JSON output lines, the last `keep` of them. */
  readonly output: string[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  paused = false
  private exitedYet = false

  /** `onJson`: each stdout line that starts with `{`, parsed. */
  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    onJson: (m: Record<string, unknown>) => void = () => {},
    private readonly keep = 400,
  ) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    // Never outlive the test process, even if it dies without running its cleanup.
    const reap = () => this.proc.kill('SIGKILL')
    process.once('exit', reap)
    this.exited = new Promise((resolve) =>
      // 'close', not 'exit': by then every line it wrote has been read.
      this.proc.once('close', (code, signal) => {
        this.exitedYet = true
        process.removeListener('exit', reap)
        resolve({ code, signal })
      }),
    )
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) onJson(JSON.parse(line) as Record<string, unknown>)
      else this.note(line)
    })
    createInterface({ input: this.proc.stderr! }).on('line', (line) => this.note(`[stderr] ${line}`))
  }

  get alive(): boolean {
    return !this.exitedYet
  }

  private note(line: string): void {
    this.output.push(line)
    if (this.output.length > this.keep) this.output.splice(0, this.output.length - this.keep)
  }

  /** Resolves with the first output line matching `re` (lines seen before count), or fails on exit or timeout. */
  async ready(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs
    for (;;) {
      for (const line of this.output) {
        const m = re.exec(line)
        if (m) return m
      }
      if (!this.alive) throw new Error(`${this.name} exited before it was ready:\n${this.tail()}`)
      if (Date.now() > end) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.tail()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  send(cmd: object): void {
    if (this.alive && !this.proc.stdin!.destroyed) this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`)
  }

  tail(lines = 30): string {
    return this.output.slice(-lines).join('\n')
  }

  pause(): void {
    this.proc.kill('SIGSTOP')
    this.paused = true
  }

  resume(): void {
    this.proc.kill('SIGCONT')
    this.paused = false
  }

  /** kill -9 (a stopped process is continued first, so the kill is not left pending), then its exit. */
  async kill(): Promise<void> {
    if (!this.alive) return
    if (this.paused) this.resume()
    this.proc.kill('SIGKILL')
    await this.exited
  }
}

/** `stateFile`: where the service keeps epoch, members and owners; a restart reads it back. */
export function spawnTopology(port: number, opts: { secret: string; replicas: number; domains: number; healDelayMs: number; heartbeatMs: number; stateFile: string }): ChildHandle {
  const args = [CLI, 'topology', '--port', String(port), '--cluster', 'faults', '--replicas', String(opts.replicas), '--domains', String(opts.domains), '--heal-delay', String(opts.healDelayMs), '--heartbeat', String(opts.heartbeatMs), '--state', opts.stateFile]
  return new ChildHandle('topology', args, { DOMAINMESH_SECRET: opts.secret })
}

export function spawnFaultPeer(name: string, dataDir: string, topologyUrl: string, secret: string, onJson: (m: Record<string, unknown>) => void): ChildHandle {
  const args = [PEER, 'node', '--topology', topologyUrl, '--data', dataDir, '--node-id', name, '--cluster', 'faults', '--metrics-port', '0']
  return new ChildHandle(name, args, { ...peerEnvironment(), DOMAINMESH_SECRET: secret }, onJson)
}

export const TAB = join(import.meta.dirname, 'tab.ts')

/** An ephemeral member (tab.ts): memory storage, a new id each time one is opened. */
export function spawnFaultTab(name: string, topologyUrl: string, secret: string, onJson: (m: Record<string, unknown>) => void): ChildHandle {
  return new ChildHandle(name, [TAB, name, topologyUrl], { ...peerEnvironment(), DOMAINMESH_SECRET: secret }, onJson)
}
