/**
 * npm run bench:latency — where a low-load commit's time goes, on this machine:
 *   1. raw node-datachannel ping between two processes (200 bytes), back to back and with gaps;
 *   2. a request through domainmesh's whole stack to a peer process (messenger, codec, WebRTC
 *      transport, the peer's store engine) and back, 5 ms apart;
 *   3. a one-field patch committed on all three nodes (replicas 3), 5 ms apart, split by whether
 *      this node is the key's primary (one round trip to the backups) or not (two).
 * Prints p50/p99 in ms. Run inside the private network namespace (the npm script does).
 */
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import nodeDataChannel from 'node-datachannel'
import { parseAddress } from '../src/routing/address.js'
import { startCluster } from './cluster.js'
import { prepare } from './domainmesh.js'
import { percentile } from './stats.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const show = (name: string, lat: number[]) => {
  lat.sort((a, b) => a - b)
  console.log(`${name.padEnd(62)} p50 ${percentile(lat, 50).toFixed(3)}  p99 ${percentile(lat, 99).toFixed(3)}`)
}

async function timed(n: number, gapMs: number, once: (i: number) => Promise<unknown>): Promise<number[]> {
  const lat: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await once(i)
    lat.push(performance.now() - t)
    if (gapMs) await sleep(gapMs)
  }
  return lat
}

async function rawPing(): Promise<void> {
  const child = fork(join(import.meta.dirname, 'latency-echo.ts'), [], { execArgv: ['--import', 'tsx'] })
  const pc = new nodeDataChannel.PeerConnection('ping', { iceServers: [], bindAddress: '127.0.0.1' })
  pc.onLocalDescription((sdp, type) => child.send({ sdp, type }))
  pc.onLocalCandidate((candidate, mid) => child.send({ candidate, mid }))
  child.on('message', (m: { sdp?: string; type?: string; candidate?: string; mid?: string }) => {
    if (m.sdp) pc.setRemoteDescription(m.sdp, m.type as nodeDataChannel.DescriptionType)
    else if (m.candidate) pc.addRemoteCandidate(m.candidate, m.mid!)
  })
  const dc = pc.createDataChannel('ping')
  await new Promise<void>((r) => dc.onOpen(() => r()))
  let answered: () => void = () => undefined
  dc.onMessage(() => answered())
  const payload = new Uint8Array(200)
  const ping = () => new Promise<void>((r) => ((answered = r), dc.sendMessageBinary(payload)))
  for (const gap of [0, 5]) show(`raw node-datachannel ping, two processes, ${gap} ms apart`, await timed(300, gap, ping))
  dc.close()
  pc.close()
  child.disconnect()
}

async function stack(): Promise<void> {
  const c = await startCluster(3)
  try {
    const d = c.driver
    const to = parseAddress('it/p1/store')
    show('domainmesh request/response to a peer process, 5 ms apart', await timed(300, 5, () => d.request(d.address('bench'), to, 'ping', {})))
    const store = await prepare(c)
    const keys = { mine: [] as string[], theirs: [] as string[] }
    for (let i = 0; i < 1000; i++) (d.state.placement(d.state.domainOf('bench' as never, `o${i}`)).primary === d.nodeId ? keys.mine : keys.theirs).push(`o${i}`)
    for (const [name, list] of [['this node is the primary', keys.mine], ['another node is the primary', keys.theirs]] as const) {
      show(`commit on 3 replicas, 5 ms apart, ${name}`, await timed(400, 5, (i) => store.patch(list[i % list.length]!, [{ op: 'replace', path: ['f1'], value: i }])))
    }
  } finally {
    await c.close()
  }
}

await rawPing()
await stack()
process.exit(0)
