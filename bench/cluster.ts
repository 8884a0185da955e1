/**
 * A benchmark cluster: the topology service in this process, two peers as separate processes
 * (the CLI, files on disk), and this process as the third node, which drives the load. Every
 * link is a real WebRTC data channel (node-datachannel).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { clusterId, nodeId } from '../src/ids.js'
import { FileStorage, nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../src/node.js'
import { MeshNode } from '../src/node/mesh-node.js'
import { WebRtcTransport } from '../src/transport/webrtc-node.js'
import { RealClock } from '../src/util/clock.js'
import { spawnPeer, type PeerProcess } from '../test/helpers/processes.js'

const SECRET = 'bench-secret-0123'
/** `domainmesh node` that also reports when its copy applies a paced write (dm-peer.ts). */
const PEER = join(import.meta.dirname, 'dm-peer.ts')

export interface BenchCluster {
  driver: MeshNode
  peers: PeerProcess[]
  server: TopologyServer
  /** When each peer's copy applied paced write n (ms on the shared wall clock), by n, as of the last `awaitArrivals`. */
  arrivals: Map<number, number[]>
  /**
   * Fetches the times the peers noted (dm-peer.ts) into `arrivals` until each write n of `ns` has
   * `copies(n)` of them; throws after 10 s, naming how many writes still lack a copy.
   */
  awaitArrivals(ns: Iterable<number>, copies: (n: number) => number): Promise<void>
  /** Frame bytes every node has sent so far. */
  bytesOut(): Promise<number>
  /** kill -9 of a peer process, and its restart on the same data folder. */
  kill(name: string): Promise<void>
  restart(name: string): Promise<void>
  /** Resolves when every domain has all its owners again. */
  settled(): Promise<void>
  close(): Promise<void>
}

export async function startCluster(replicas: number, domainCount = 64, healDelayMs = 2000): Promise<BenchCluster> {
  const dir = await mkdtemp(join(process.env.DM_BENCH_DIR ?? tmpdir(), 'dm-bench-'))
  const server = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount, replicas }, healDelayMs, heartbeatMs: 500 })
  const arrivals = new Map<number, number[]>()
  /** Per peer process: who waits for the end of the arrivals it was asked for. */
  const collected = new Map<PeerProcess['proc'], () => void>()
  const spawn = async (name: string) => {
    const p = await spawnPeer(name, join(dir, name), server.url, SECRET, PEER)
    createInterface({ input: p.proc.stdout! }).on('line', (line) => {
      if (line === 'arrivals end') return collected.get(p.proc)?.()
      const m = /^arrival (\d+) ([\d.]+)$/.exec(line)
      if (!m) return
      const n = Number(m[1])
      if (!arrivals.has(n)) arrivals.set(n, [])
      arrivals.get(n)!.push(Number(m[2]))
    })
    return p
  }
  const collectArrivals = () =>
    Promise.all(
      peers.map(
        (p) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${p.name} did not hand over its arrival times`)), 10_000)
            collected.set(p.proc, () => (clearTimeout(timer), collected.delete(p.proc), resolve()))
            p.proc.stdin!.write('arrivals\n')
          }),
      ),
    ).then(() => undefined)
  const awaitArrivals = async (ns: Iterable<number>, copies: (n: number) => number) => {
    const writes = [...ns]
    const deadline = Date.now() + 10_000
    for (;;) {
      await collectArrivals()
      const short = writes.filter((n) => (arrivals.get(n)?.length ?? 0) < copies(n)).length
      if (short === 0) return
      if (Date.now() > deadline) throw new Error(`paced writes: ${short} of ${writes.length} still lack a copy's report after 10 s`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const peers = await Promise.all(['p1', 'p2'].map(spawn))
  const clock = new RealClock()
  const driver = new MeshNode({
    clusterId: clusterId('it'),
    nodeId: nodeId('driver'),
    transport: new WebRtcTransport({ iceServers: [], clock }),
    storage: await FileStorage.open(join(dir, 'driver')),
    clock,
    topology: { connect: nodeTopologyConnector(server.url), secret: SECRET },
  })
  await driver.start()
  const settled = async () => {
    const deadline = Date.now() + 120_000
    for (;;) {
      const view = driver.topology.view()
      const owners = Object.values(view.owners ?? {})
      const up = view.members.filter((m) => m.status === 'up').length
      // Every domain on its final replicas too: owners can be complete while placement still
      // wants to move a domain to a node that joined last (a copy not begun yet). A run that
      // started then had writes fenced off mid-run by those moves.
      const placed = Array.from({ length: domainCount }, (_, d) => driver.state.placement(d).healing.length === 0).every(Boolean)
      if (driver.transport.peers().length === 2 && up === 3 && owners.length === domainCount && owners.every((o) => o.length === replicas) && placed && driver.health().safe) return
      if (Date.now() > deadline) throw new Error(`cluster did not settle: ${JSON.stringify(driver.health())}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await settled()
  return {
    settled,
    kill: async (name) => {
      const i = peers.findIndex((p) => p.name === name)
      await peers[i]!.kill('SIGKILL')
    },
    restart: async (name) => {
      const i = peers.findIndex((p) => p.name === name)
      peers[i] = await spawn(name)
    },
    driver,
    peers,
    arrivals,
    awaitArrivals,
    server,
    bytesOut: async () => driver.metrics().bytesOut + (await Promise.all(peers.map((p) => p.metrics()))).reduce((n, m) => n + (m.bytesOut as number), 0),
    close: async () => {
      await driver.close()
      await Promise.all(peers.map((p) => p.kill('SIGTERM')))
      await server.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
