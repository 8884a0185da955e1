/**
 * A topology service in this process, CLI peers as child processes, and a "tester" MeshNode here
 * that joins the same cluster over WebRTC: the setup of the real-process integration tests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { spawnPeer, type PeerProcess } from './processes.js'
import { waitFor } from './wait.js'

export interface PeerClusterOptions {
  /** Prefix of the temporary data folder. */
  name: string
  peers: readonly string[]
  replicas: number
  secret: string
}

export class PeerCluster {
  readonly peers = new Map<string, PeerProcess>()
  client!: MeshNode
  server!: TopologyServer

  private constructor(
    readonly dir: string,
    private readonly opts: PeerClusterOptions,
  ) {}

  /** Starts everything and waits until the tester is linked to every peer and the cluster is fully replicated. */
  static async start(opts: PeerClusterOptions): Promise<PeerCluster> {
    const c = new PeerCluster(await mkdtemp(join(tmpdir(), `dm-${opts.name}-`)), opts)
    c.server = await startTopologyServer({ clusterId: 'it', secret: opts.secret, settings: { domainCount: 16, replicas: opts.replicas }, healDelayMs: 10_000, heartbeatMs: 250 })
    for (const name of opts.peers) await c.startPeer(name)
    c.client = new MeshNode({
      clusterId: clusterId('it'),
      nodeId: nodeId('tester'),
      transport: new WebRtcTransport({ iceServers: [] }),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { connect: nodeTopologyConnector(c.server.url), secret: opts.secret },
    })
    await c.client.start()
    await waitFor(() => c.client.transport.peers().length === opts.peers.length && c.client.health().safe, 'the cluster to settle', 60_000, 50)
    return c
  }

  /** Starts (or restarts on its data folder) a peer process. */
  async startPeer(name: string): Promise<PeerProcess> {
    const p = await spawnPeer(name, join(this.dir, name), this.server.url, this.opts.secret)
    this.peers.set(name, p)
    return p
  }

  async close(): Promise<void> {
    await this.client?.close()
    // SIGKILL: a peer left stopped by a failed test would never act on SIGTERM.
    for (const p of this.peers.values()) await p.kill('SIGKILL')
    await this.server?.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}
