/** A child process spoken to in JSON lines: send a command, await the next answer of a kind. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

export class LineProcess {
  readonly proc: ChildProcess
  private readonly waiting: { op: string; resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = []
  private readonly early: Record<string, unknown>[] = []
  readonly stderr: string[] = []

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return void this.stderr.push(`${line}\n`)
      const m = JSON.parse(line) as Record<string, unknown>
      const i = this.waiting.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m)
      else this.early.push(m)
    })
    this.proc.stderr!.on('data', (d: Buffer) => this.stderr.push(String(d)))
    // A child that dies fails whoever waits on it now, not at the timeout minutes later.
    this.proc.once('exit', (code, signal) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`child exited (${signal ?? code}) before "${w.op}"; stderr: ${this.stderr.join('').slice(-2000)}`))
    })
  }

  send(cmd: object): void {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`)
  }

  next(op: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const i = this.early.findIndex((m) => m.op === op)
    if (i >= 0) return Promise.resolve(this.early.splice(i, 1)[0]!)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${op}" within ${timeoutMs} ms; stderr: ${this.stderr.join('').slice(-2000)}`)), timeoutMs)
      this.waiting.push({ op, resolve: (m) => (clearTimeout(timer), resolve(m)), reject: (e) => (clearTimeout(timer), reject(e)) })
    })
  }

  async ask(cmd: object, op: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const answer = this.next(op, timeoutMs)
    this.send(cmd)
    return answer
  }

  kill(): void {
    this.proc.kill('SIGKILL')
  }
}
