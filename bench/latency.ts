/**
 * npm run bench:latency — where a low-load commit's time goes, on this machine:
 *   0. a UDP ping between two Node processes on loopback, no WebRTC: the floor that Node's event
 *      loop and this machine set under any message between processes;
 *   1. raw node-datachannel ping between two processes (200 bytes), back to back and with gaps;
 *   2. a request through domainmesh's whole stack to a peer process (messenger, codec, WebRTC
 *      transport, the peer's store engine) and back, back to back and 5 ms apart;
 *   3. a one-field patch committed on all three nodes (replicas 3), 5 ms apart, split by whether
 *      this node is the key's primary (one round trip to the backups) or not (two);
 *   4. the same patches one-way, write call to each other node's copy applying it (the figure
 *      `npm run bench` reports), split by hops: from this node as the primary straight to each
 *      copy (one hop), or through another node that is the primary (its copy: one hop; the
 *      third node's: two, which the raw ping's round trip, two hops as well, bounds from below);
 *   5. write + fdatasync of a 2 KB record on this disk, alone and three processes at once (each
 *      commit waits for such syncs on every replica).
 * Prints p50/p99 in ms. Run inside the private network namespace (the npm script does).
 */
import { fork } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
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

async function udpPing(): Promise<void> {
  const child = fork(import.meta.filename, ['--udp-echo'], { execArgv: ['--import', 'tsx'] })
  const port = await new Promise<number>((r) => child.once('message', (m) => r(m as number)))
  const socket = createSocket('udp4')
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r))
  let answered: () => void = () => undefined
  socket.on('message', () => answered())
  const payload = new Uint8Array(200)
  const ping = () => new Promise<void>((r) => ((answered = r), socket.send(payload, port, '127.0.0.1')))
  for (const gap of [0, 5]) show(`UDP ping between two Node processes, ${gap} ms apart`, await timed(300, gap, ping))
  socket.close()
  child.disconnect()
}

function udpEcho(): void {
  const socket = createSocket('udp4')
  socket.on('message', (m, from) => socket.send(m, from.port, from.address))
  socket.bind(0, '127.0.0.1', () => process.send!(socket.address().port))
  process.on('disconnect', () => process.exit(0))
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
    for (const gap of [0, 5]) show(`domainmesh request/response to a peer process, ${gap} ms apart`, await timed(300, gap, () => d.request(d.address('bench'), to, 'ping', {})))
    const store = await prepare(c)
    const keys = { mine: [] as string[], theirs: [] as string[] }
    for (let i = 0; i < 1000; i++) (d.state.placement(d.state.domainOf('bench' as never, `o${i}`)).primary === d.nodeId ? keys.mine : keys.theirs).push(`o${i}`)
    for (const [name, list] of [['this node is the primary', keys.mine], ['another node is the primary', keys.theirs]] as const) {
      show(`commit on 3 replicas, 5 ms apart, ${name}`, await timed(400, 5, (i) => store.patch(list[i % list.length]!, [{ op: 'replace', path: ['f1'], value: i }])))
    }
    // Negative values: the peer processes report when their copies apply them (dm-peer.ts).
    const sent = new Map<number, { at: number; mine: boolean }>()
    await timed(600, 5, async (i) => {
      const n = i + 1
      const mine = i % 3 === 0
      const list = mine ? keys.mine : keys.theirs
      sent.set(n, { at: performance.timeOrigin + performance.now(), mine })
      await store.patch(list[i % list.length]!, [{ op: 'replace', path: ['f2'], value: -n }])
    })
    await c.awaitArrivals(sent.keys(), () => 2)
    const hops = { mine: [] as number[], first: [] as number[], second: [] as number[] }
    for (const [n, { at, mine }] of sent) {
      const [a, b] = (c.arrivals.get(n) ?? []).map((t) => t - at).sort((x, y) => x - y)
      if (a === undefined || b === undefined) throw new Error(`paced write ${n}: a copy never reported applying it`)
      if (mine) hops.mine.push(a, b)
      else hops.first.push(a), hops.second.push(b)
    }
    show('one-way, this node the primary: each copy (one hop)', hops.mine)
    show('one-way, another the primary: first copy (its own, one hop)', hops.first)
    show('one-way, another the primary: second copy (two hops)', hops.second)
    show('one-way, all copies, a third of the writes from the primary', [...hops.mine, ...hops.first, ...hops.second])
  } finally {
    await c.close()
  }
}

/** write + fdatasync of 2 KB records appended to a file in `dir`, `n` times: the latencies. */
async function syncLoop(dir: string, n: number): Promise<number[]> {
  const fh = await open(join(dir, `sync-${process.pid}.bin`), 'w')
  const record = new Uint8Array(2048).fill(7)
  try {
    return await timed(n, 0, async () => {
      await fh.write(record)
      await fh.datasync()
    })
  } finally {
    await fh.close()
  }
}

async function diskSync(): Promise<void> {
  const dir = await mkdtemp(join(process.env.DM_BENCH_DIR ?? tmpdir(), 'dm-sync-'))
  try {
    show('write + fdatasync of 2 KB, one process', await syncLoop(dir, 1000))
    const others = [0, 1].map(() => fork(import.meta.filename, ['--sync-loop', dir], { execArgv: ['--import', 'tsx'] }))
    const mine = await syncLoop(dir, 1000)
    await Promise.all(others.map((p) => new Promise((r) => p.on('exit', r))))
    show('write + fdatasync of 2 KB, three processes at once', mine)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--sync-loop') {
  await syncLoop(process.argv[3]!, 1000)
  process.exit(0)
} else if (process.argv[2] === '--udp-echo') {
  udpEcho()
} else {
  await udpPing()
  await rawPing()
  await stack()
  await diskSync()
  process.exit(0)
}
