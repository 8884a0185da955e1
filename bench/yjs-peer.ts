/**
 * One Yjs peer for the comparison (run as its own process by yjs.ts): a Y.Doc shared through
 * y-webrtc, whose simple-peer connections get webrtc-polyfill (a dev dependency; node-datachannel
 * underneath, as under domainmesh in Node). (node-datachannel's own polyfill fails simple-peer 9's
 * createOffer here.) Commands arrive as JSON lines on stdin; results leave on stdout.
 * Every data-channel send is counted, so bytes per change cover all messages.
 */
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import * as polyfill from 'webrtc-polyfill'
import WebSocket from 'ws'
import { WebrtcProvider } from 'y-webrtc'
import * as Y from 'yjs'
import { changes, PlanTracker, type Plan } from './workload.js'

const [room, signaling, name] = process.argv.slice(2) as [string, string, string]
;(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket
let bytesSent = 0
const send = polyfill.RTCDataChannel.prototype.send as (this: unknown, data: unknown) => void
;(polyfill.RTCDataChannel.prototype as { send: unknown }).send = function (this: unknown, data: string | ArrayBufferView) {
  bytesSent += typeof data === 'string' ? data.length : data.byteLength
  return send.call(this, data)
}
const out = (m: object) => process.stdout.write(`${JSON.stringify({ name, ...m })}\n`)
const now = () => performance.timeOrigin + performance.now()

const doc = new Y.Doc()
const objects = doc.getMap<Y.Map<number>>('objects')
const provider = new WebrtcProvider(room, doc, { signaling: [signaling], filterBcConns: false, peerOpts: { wrtc: polyfill, config: { iceServers: [] } } })
// The orchestrator starts peers one at a time: two peers that announce themselves at once both
// dial (y-webrtc's glare), and that connection never opens.
provider.on('status', ({ connected }) => connected && out({ op: 'signaling' }))
if (process.env.DEBUG_Y) {
  provider.on('status', (e) => console.error('status', JSON.stringify(e)))
  provider.on('peers', (e) => console.error('peers', JSON.stringify(e)))
  provider.on('synced', (e) => console.error('synced', JSON.stringify(e)))
}
/** Arrival time of every change the writer stamps (value = op number; the writer keeps send times). */
const arrivals = new Map<number, number>()
let range: [number, number] = [0, 0]
let resolveAll: (() => void) | undefined
const inRange = () => {
  let n = 0
  for (let v = range[0] + 1; v <= range[1]; v++) if (arrivals.has(v)) n++
  return n
}
/** The fresh-cluster runs (fresh.ts): the plan this copy watches for (workload.ts). */
let tracker: PlanTracker | undefined
const keyOf = new Map<Y.AbstractType<unknown>, number>()
objects.observeDeep((events) => {
  const t = now()
  for (const e of events) if (e.target !== objects) for (const k of (e as Y.YMapEvent<number>).keysChanged) {
    const v = (e.target as Y.Map<number>).get(k)
    if (tracker && typeof v === 'number') {
      let o = keyOf.get(e.target)
      if (o === undefined) keyOf.set(e.target, (o = Number((e.path[0] as string).slice(1))))
      tracker.seen(o, Number(k.slice(1)), v)
      continue
    }
    if (typeof v === 'number' && v > 0 && !arrivals.has(v)) arrivals.set(v, t)
  }
  if (resolveAll && arrivals.has(range[1]) && inRange() >= range[1] - range[0]) resolveAll()
})

const peersReady = () => new Promise<void>((resolve) => {
  const check = () => ((provider as unknown as { room: { webrtcConns: Map<string, { connected: boolean }> } | null }).room?.webrtcConns.size ?? 0) >= 2 && [...(provider as unknown as { room: { webrtcConns: Map<string, { connected: boolean }> } }).room.webrtcConns.values()].every((c) => c.connected) ? resolve() : setTimeout(check, 50)
  check()
})

const rl = createInterface({ input: process.stdin })
for await (const line of rl) {
  const cmd = JSON.parse(line) as { op: string; objects?: number; fields?: number; ops?: number; base?: number; gapMs?: number; plan?: Plan; times?: boolean }
  if (cmd.op === 'track') {
    const t = (tracker = new PlanTracker(cmd.plan!, now))
    out({ op: 'tracking' })
    void t.complete().then((at) => {
      if (tracker === t) tracker = undefined
      out({ op: 'applied', at, times: cmd.times ? Object.fromEntries(t.arrived) : undefined })
    })
    continue
  }
  if (cmd.op === 'write' && cmd.plan) {
    // The fresh-cluster writer: one change per transaction, 200 per turn, or one every gapMs.
    const sent: Record<number, number> = {}
    const t0 = now()
    let i = 0
    for (const c of changes(cmd.plan)) {
      if (cmd.gapMs) sent[c.value] = now()
      objects.get(`o${c.object}`)!.set(`f${c.field}`, c.value)
      if (cmd.gapMs) await new Promise((r) => setTimeout(r, cmd.gapMs))
      else if (++i % 200 === 0) await new Promise((r) => setImmediate(r))
    }
    out({ op: 'written', t0, sent: cmd.gapMs ? sent : undefined, errors: 0 })
    continue
  }
  if (cmd.op === 'cpu') {
    const u = process.cpuUsage()
    out({ op: 'cpu', user: u.user, system: u.system })
    continue
  }
  if (cmd.op === 'wait-peers') {
    await peersReady()
    out({ op: 'peers' })
  } else if (cmd.op === 'init') {
    // In transactions of 50 objects: one update for all 1,000 would exceed what a data channel
    // message may carry.
    for (let start = 0; start < cmd.objects!; start += 50) {
      doc.transact(() => {
        for (let i = start; i < Math.min(cmd.objects!, start + 50); i++) {
          const m = new Y.Map<number>()
          for (let f = 0; f < cmd.fields!; f++) m.set(`f${f}`, 0)
          objects.set(`o${i}`, m)
        }
      })
      await new Promise((r) => setTimeout(r, 5))
    }
    out({ op: 'init' })
  } else if (cmd.op === 'wait-init') {
    while (objects.size < cmd.objects!) await new Promise((r) => setTimeout(r, 20))
    out({ op: 'init' })
  } else if (cmd.op === 'expect') {
    // A reader: resolves when every change numbered base+1..base+ops has arrived.
    range = [cmd.base!, cmd.base! + cmd.ops!]
    const done = new Promise<void>((r) => (resolveAll = r))
    out({ op: 'expecting' })
    await done
    resolveAll = undefined
    const times: Record<number, number> = {}
    for (let v = range[0] + 1; v <= range[1]; v++) times[v] = arrivals.get(v)!
    for (const v of [...arrivals.keys()]) if (v <= range[1]) arrivals.delete(v)
    out({ op: 'arrived', times })
  } else if (cmd.op === 'write') {
    // The writer: one field of one object per change, each its own transaction (its own update).
    const sent: Record<number, number> = {}
    const bytes0 = bytesSent
    for (let op = 1; op <= cmd.ops!; op++) {
      const n = cmd.base! + op
      sent[n] = now()
      objects.get(`o${op % cmd.objects!}`)!.set(`f${Math.floor(op / cmd.objects!) % cmd.fields!}`, n)
      if (cmd.gapMs) await new Promise((r) => setTimeout(r, cmd.gapMs))
      else if (op % 200 === 0) await new Promise((r) => setImmediate(r)) // let the provider send
    }
    out({ op: 'written', sent, bytes: bytesSent - bytes0 })
  } else if (cmd.op === 'bytes') {
    out({ op: 'bytes', bytesSent })
  } else if (cmd.op === 'exit') {
    provider.destroy()
    doc.destroy()
    process.exit(0)
  }
}
