/**
 * A real etcd cluster for tests: N members of Debian's etcd-server (/usr/bin/etcd) on loopback
 * ports, data in a temporary folder. Members are killed and restarted by their own handles.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { waitFor } from './wait.js'
import { freePort } from './processes.js'

export const ETCD_BIN = process.env.DOMAINMESH_ETCD ?? '/usr/bin/etcd'
export const ETCD_MISSING = `etcd is missing (${ETCD_BIN}): install it with "sudo apt-get install etcd-server" (Debian/Ubuntu), or set DOMAINMESH_ETCD to an etcd 3.4+ binary`

export const etcdAvailable = (): boolean => existsSync(ETCD_BIN)

interface Member {
  name: string
  clientUrl: string
  peerUrl: string
  proc: ChildProcess | undefined
  exited: Promise<void>
  output: string[]
}

export class EtcdCluster {
  private constructor(
    readonly dir: string,
    private readonly members: Member[],
  ) {}

  /**
   * `onDisk`: data under the system's temporary folder. By default the tests keep it in /dev/shm
   * where there is one: a kill -9 loses nothing from the page cache either way, and etcd's fsyncs
   * then do not queue behind the disk traffic of every other test (the benchmark keeps the disk).
   */
  static async start(size = 3, opts: { onDisk?: boolean } = {}): Promise<EtcdCluster> {
    const base = !opts.onDisk && existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
    const dir = await mkdtemp(join(base, 'dm-etcd-'))
    const members: Member[] = []
    for (let i = 1; i <= size; i++) members.push({ name: `m${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}`, proc: undefined, exited: Promise.resolve(), output: [] })
    const c = new EtcdCluster(dir, members)
    for (const m of members) c.spawn(m, 'new')
    await c.waitHealthy()
    return c
  }

  get urls(): string[] {
    return this.members.map((m) => m.clientUrl)
  }

  names(): string[] {
    return this.members.map((m) => m.name)
  }

  private spawn(m: Member, state: 'new' | 'existing'): void {
    const initial = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',')
    // Short Raft timers: a member's death is noticed, and a leader elected, within a second.
    const proc = spawn(ETCD_BIN, [
      '--name', m.name, '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initial, '--initial-cluster-state', state, '--initial-cluster-token', 'dm-test',
      '--heartbeat-interval', '50', '--election-timeout', '500', '--log-level', 'warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    const reap = () => proc.kill('SIGKILL')
    process.once('exit', reap)
    m.output = []
    proc.stdout!.on('data', (d: Buffer) => m.output.push(String(d)))
    proc.stderr!.on('data', (d: Buffer) => m.output.push(String(d)))
    m.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        process.removeListener('exit', reap)
        resolve()
      }),
    )
    m.proc = proc
  }

  /** Every running member answers and they agree on one leader. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => {
      const leaders = new Set<string>()
      for (const m of this.members) {
        if (!m.proc) continue
        const s = await this.status(m)
        if (!s || s.leader === '0') return false
        leaders.add(s.leader)
      }
      return leaders.size === 1
    }, 'etcd to elect a leader', timeoutMs, 100)
  }

  private async status(m: Member): Promise<{ leader: string; self: string } | undefined> {
    const client = new Etcd3({ hosts: m.clientUrl, dialTimeout: 500 })
    try {
      const s = await client.maintenance.status().then(
        (r) => r,
        () => undefined,
      )
      return s ? { leader: String(s.leader), self: String(s.header.member_id) } : undefined
    } finally {
      client.close()
    }
  }

  /** The name of the member that leads now. */
  async leader(): Promise<string> {
    for (const m of this.members) {
      if (!m.proc) continue
      const s = await this.status(m)
      if (!s) continue
      for (const x of this.members) {
        if (!x.proc) continue
        const xs = await this.status(x)
        if (xs && xs.self === s.leader) return x.name
      }
    }
    throw new Error('no etcd leader')
  }

  async kill(name: string): Promise<void> {
    const m = this.members.find((x) => x.name === name)!
    m.proc?.kill('SIGKILL')
    await m.exited
    m.proc = undefined
  }

  async restart(name: string): Promise<void> {
    const m = this.members.find((x) => x.name === name)!
    if (m.proc) return
    this.spawn(m, 'existing')
  }

  output(name: string): string {
    return this.members.find((x) => x.name === name)!.output.join('')
  }

  async close(): Promise<void> {
    for (const m of this.members) if (m.proc) await this.kill(m.name)
    await rm(this.dir, { recursive: true, force: true })
  }
}
