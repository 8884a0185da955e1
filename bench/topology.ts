/**
 * The topology service, embedded (one process, state file) against several instances over etcd
 * (3 etcd members + 2 instances), measured with raw TopologyClients in this process:
 *  - instance kill: kill -9 of the instance a client is on → the first view it gets from another
 *    instance (embedded: the service restarted at once, and the client's next view from it);
 *    over etcd once for the instance that leads (its lease must expire first) and once for the other;
 *  - view publication rate: views/s the service publishes and one client on another instance receives;
 *  - signaling latency: a signal and its echo between two clients (on two instances over etcd), halved.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeId } from '../src/ids.js'
import { nodeTopologyConnector } from '../src/node.js'
import type { EngineInfo } from '../src/routing/engine.js'
import { TopologyClient } from '../src/topology/client.js'
import { RealClock } from '../src/util/clock.js'
import { ChildHandle, CLI } from '../test/faults/processes.js'
import { EtcdCluster } from '../test/helpers/etcd-cluster.js'
import { freePort } from '../test/helpers/processes.js'

const SECRET = 'bench-topology-secret'
const CLUSTER = 'bt'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface TopologyFigures {
  killToViewMs: number[]
  /** Over etcd: the instance that does not lead. */
  killFollowerToViewMs: number[]
  viewsPerSec: number[]
  signalMs: number[]
}

const engine = (vs: '*' | string[]): EngineInfo => ({ engineId: 'store', engineType: 'store', virtualServers: vs }) as unknown as EngineInfo

function client(name: string, urls: string[]): TopologyClient {
  const engines = [engine('*')]
  return new TopologyClient({ clusterId: CLUSTER, nodeId: nodeId(name), secret: SECRET, clock: new RealClock(), engines: () => engines, connect: nodeTopologyConnector(urls) })
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`)
    await sleep(1)
  }
}

class Setup {
  readonly handles: ChildHandle[] = []
  readonly ports: number[] = []
  /** One key prefix for every instance of this setup (they share one cluster's state). */
  readonly prefix = `bench-${process.pid}-${Date.now()}`
  private constructor(
    readonly dir: string,
    readonly etcd: EtcdCluster | undefined,
  ) {}

  static async start(mode: 'embedded' | 'etcd'): Promise<Setup> {
    const dir = await mkdtemp(join(tmpdir(), 'dm-bench-topo-'))
    const s = new Setup(dir, mode === 'etcd' ? await EtcdCluster.start(3, { onDisk: true }) : undefined)
    for (let i = 0; i < (mode === 'etcd' ? 2 : 1); i++) {
      s.ports.push(await freePort())
      await s.spawn(i)
      // The first instance leads: it was alone when it campaigned.
      if (i === 0 && s.etcd) await s.handles[0]!.ready(/ leads:/, 10_000)
    }
    return s
  }

  async spawn(i: number): Promise<void> {
    const store = this.etcd ? ['--etcd', this.etcd.urls.join(','), '--etcd-prefix', this.prefix] : ['--state', join(this.dir, 'state.json')]
    const h = new ChildHandle(`t${i}`, [CLI, 'topology', '--port', String(this.ports[i]), '--cluster', CLUSTER, '--heartbeat', '250', '--heal-delay', '60000', ...store], { DOMAINMESH_SECRET: SECRET }, undefined, 100_000)
    this.handles[i] = h
    await h.ready(/listening on ws:/, 30_000)
  }

  url(i: number): string {
    return `ws://127.0.0.1:${this.ports[i]}`
  }

  async close(): Promise<void> {
    for (const h of this.handles) await h.kill()
    await this.etcd?.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** One client on instance `victim` (listing the other one next); kill -9 `victim`; ms until its next view. */
async function killToView(s: Setup, victim: number, run: number): Promise<number> {
  const urls = s.ports.map((_, i) => s.url((victim + i) % s.ports.length))
  const c = client(`k${run}-${victim}`, urls)
  let epoch = 0
  c.events.on('view', ({ view }) => (epoch = Math.max(epoch, view.epoch)))
  await c.connect()
  await sleep(500)
  const before = epoch
  const t0 = performance.now()
  await s.handles[victim]!.kill()
  // Embedded: the service comes back at once on its state file (what a supervisor would do).
  const restart = s.etcd ? Promise.resolve() : s.spawn(victim)
  await until(() => epoch > before, 'the first view after the kill')
  const ms = performance.now() - t0
  await restart
  c.leave()
  c.close()
  if (s.etcd) {
    await s.spawn(victim)
    await sleep(500)
  }
  return ms
}

async function viewRate(s: Setup, run: number, n = 200): Promise<number> {
  const driver = client(`d${run}`, [s.url(0)])
  const observer = client(`o${run}`, [s.url(s.ports.length - 1)])
  let epoch = 0
  observer.events.on('view', ({ view }) => (epoch = Math.max(epoch, view.epoch)))
  await driver.connect()
  await observer.connect()
  await sleep(300)
  const start = epoch
  const t0 = performance.now()
  // Each new engine list is one more view; all sent at once, published one after another.
  for (let i = 0; i < n; i++) driver.updateEngines([engine([`vs${run}-${i}`])])
  await until(() => epoch >= start + n, `${n} views`)
  const rate = (n * 1000) / (performance.now() - t0)
  for (const c of [driver, observer]) {
    c.leave()
    c.close()
  }
  return rate
}

async function signalLatency(s: Setup, run: number, n = 200): Promise<number> {
  const a = client(`sa${run}`, [s.url(0)])
  const b = client(`sb${run}`, [s.url(s.ports.length - 1)])
  b.events.on('signal', ({ from, data }) => b.signal(from, data))
  await a.connect()
  await b.connect()
  await sleep(300)
  const times: number[] = []
  let back: (() => void) | undefined
  a.events.on('signal', () => back?.())
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((resolve) => {
      back = resolve
      a.signal(nodeId(`sb${run}`), { i })
    })
    times.push((performance.now() - t0) / 2)
  }
  for (const c of [a, b]) {
    c.leave()
    c.close()
  }
  times.sort((x, y) => x - y)
  return times[Math.floor(times.length / 2)]!
}

export async function topologyBench(mode: 'embedded' | 'etcd', runs: number, log: (m: string) => void): Promise<TopologyFigures> {
  const s = await Setup.start(mode)
  const out: TopologyFigures = { killToViewMs: [], killFollowerToViewMs: [], viewsPerSec: [], signalMs: [] }
  try {
    for (let i = 0; i < runs; i++) {
      out.viewsPerSec.push(await viewRate(s, i))
      out.signalMs.push(await signalLatency(s, i))
      log(`topology ${mode}: ${out.viewsPerSec.at(-1)!.toFixed(0)} views/s, signal one-way p50 ${out.signalMs.at(-1)!.toFixed(2)} ms`)
    }
    // Over etcd the instance that leads changes with each kill: found by what they printed.
    const leader = async () => {
      let at = -1
      await until(() => (at = s.handles.findIndex((h) => h.alive && h.output.filter((l) => /leads:|stopped leading/.test(l)).at(-1)?.includes('leads:'))) >= 0, 'an instance to lead')
      return at
    }
    for (let i = 0; i < runs; i++) {
      out.killToViewMs.push(await killToView(s, s.etcd ? await leader() : 0, i))
      if (s.etcd) out.killFollowerToViewMs.push(await killToView(s, 1 - (await leader()), i))
      log(`topology ${mode}: kill -9 → first view ${out.killToViewMs.at(-1)!.toFixed(0)} ms${s.etcd ? ` (leading instance), ${out.killFollowerToViewMs.at(-1)!.toFixed(0)} ms (the other)` : ''}`)
    }
  } catch (err) {
    // What the instances printed says why (who led, what etcd answered).
    for (const h of s.handles) log(`${h.name}:\n${h.tail(40)}`)
    throw err
  } finally {
    await s.close()
  }
  return out
}
