/**
 * Yjs + y-webrtc on the benchmark workload: three peer processes in one room (the y-webrtc
 * signaling server as a fourth), one writer. A change counts when both other peers have it.
 */
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { LineProcess } from './line-process.js'
import { percentile } from './stats.js'

export interface CrdtResult {
  opsPerSec: number
  p50: number
  p99: number
  bytesPerOp: number
}

export class YjsCluster {
  private constructor(
    private readonly server: LineProcess,
    readonly peers: LineProcess[],
  ) {}

  /**
   * y-webrtc's peers sometimes never find each other (simultaneous offers: glare); a start that
   * does not connect within 20 s is torn down and tried again, up to three times.
   */
  static async start(objects: number, fields: number): Promise<YjsCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await YjsCluster.startOnce(objects, fields)
      } catch (err) {
        if (attempt >= 3) throw err
        console.log(`[bench] yjs: start failed (${(err as Error).message.slice(0, 80)}), trying again`)
      }
    }
  }

  private static async startOnce(objects: number, fields: number): Promise<YjsCluster> {
    const port = 20000 + Math.floor(Math.random() * 20000)
    const serverJs = join(import.meta.dirname, '..', 'node_modules', 'y-webrtc', 'bin', 'server.js')
    const server = new LineProcess([serverJs], { PORT: String(port) })
    await new Promise((r) => setTimeout(r, 500))
    const room = `bench-${port}`
    const peers: LineProcess[] = []
    try {
      for (const n of ['y1', 'y2', 'y3']) {
        const p = new LineProcess(['--import', 'tsx', join(import.meta.dirname, 'yjs-peer.ts'), room, `ws://127.0.0.1:${port}`, n], process.env.YJS_DEBUG ? { DEBUG_Y: '1', LOG: '*' } : {})
        peers.push(p)
        await p.next('signaling', 30_000)
        await new Promise((r) => setTimeout(r, 1500)) // its connections are up before the next announces itself
      }
      await Promise.all(peers.map((p) => p.ask({ op: 'wait-peers' }, 'peers', 20_000)))
      await peers[0]!.ask({ op: 'init', objects, fields }, 'init')
      await Promise.all(peers.slice(1).map((p) => p.ask({ op: 'wait-init', objects }, 'init')))
    } catch (err) {
      for (const p of peers) p.kill()
      server.kill()
      throw err
    }
    return new YjsCluster(server, peers)
  }

  /** `ops` changes from peer 1; throughput until both others have all, and per-change latency. */
  async run(ops: number, base: number, objects: number, fields: number, gapMs = 0): Promise<CrdtResult> {
    const [writer, ...readers] = this.peers as [LineProcess, ...LineProcess[]]
    const bytes0 = await this.bytes()
    const arrived = readers.map((r) => r.next('arrived', 300_000))
    await Promise.all(readers.map((r) => r.ask({ op: 'expect', base, ops }, 'expecting')))
    const t0 = performance.timeOrigin + performance.now()
    const written = await writer.ask({ op: 'write', ops, base, objects, fields, gapMs }, 'written', 300_000)
    const results = await Promise.all(arrived)
    const sent = written.sent as Record<string, number>
    const lat: number[] = []
    let last = 0
    for (const r of results) for (const [n, t] of Object.entries(r.times as Record<string, number>)) {
      lat.push(t - sent[n]!)
      last = Math.max(last, t)
    }
    lat.sort((a, b) => a - b)
    const bytes = (await this.bytes()) - bytes0
    return { opsPerSec: ops / ((last - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99), bytesPerOp: bytes / ops }
  }

  private async bytes(): Promise<number> {
    const all = await Promise.all(this.peers.map((p) => p.ask({ op: 'bytes' }, 'bytes')))
    return all.reduce((n, m) => n + (m.bytesSent as number), 0)
  }

  close(): void {
    for (const p of this.peers) p.kill()
    this.server.kill()
  }
}
