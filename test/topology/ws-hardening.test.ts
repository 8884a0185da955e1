/**
 * The topology server on a real WebSocket port (loopback) against hostile or broken input: frames
 * that break the protocol, oversized and garbage messages, connections that never say hello, and
 * many of them. After each, the server must still admit a node and publish views. The server's
 * clock is fake so that the hello deadline passes when the test says so.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { nodeId } from '../../src/ids.js'
import { nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { helloProof, randomNonce } from '../../src/topology/auth.js'
import { TopologyClient } from '../../src/topology/client.js'
import type { View } from '../../src/topology/view.js'
import { FakeClock } from '../../src/util/clock.js'
import { frame, rawWebSocket, type RawWebSocket } from '../helpers/raw-websocket.js'
import { waitFor } from '../helpers/wait.js'

const SECRET = 'ws-secret'
let server: TopologyServer | undefined
const clients: TopologyClient[] = []
const sockets: (RawWebSocket | WebSocket)[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const s of sockets.splice(0)) s instanceof WebSocket ? s.terminate() : s.destroy()
  await server?.close()
  server = undefined
})

async function start(opts: { maxWaitingLinks?: number } = {}) {
  const clock = new FakeClock(Date.now())
  // Heartbeats far apart: the fake clock jumps past the hello deadline without the sweeper
  // marking the (real-socket) watcher down for heartbeats it had no time to send.
  server = await startTopologyServer({ clusterId: 'wsc', secret: SECRET, clock, settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 60_000, healDelayMs: 60_000, ...opts })
  const linkErrors: string[] = []
  server.events.on('linkError', ({ error }) => linkErrors.push(error.message))
  const node = (name: string) => {
    const c = new TopologyClient({ clusterId: 'wsc', nodeId: nodeId(name), secret: SECRET, clock, engines: () => [], connect: nodeTopologyConnector(server!.url) })
    clients.push(c)
    const views: View[] = []
    c.events.on('view', ({ view }) => views.push(view))
    return { c, views }
  }
  const watcher = node('watcher')
  await watcher.c.connect()
  let joined = 0
  /** A new node is admitted, and the watcher hears of it in a published view. */
  const stillServes = async () => {
    const name = `n${++joined}`
    const n = node(name)
    const welcome = await n.c.connect()
    expect(welcome.view.members.map((m) => m.nodeId)).toContain(name)
    await waitFor(() => watcher.views.some((v) => v.members.some((m) => m.nodeId === name && m.status === 'up')), `the watcher to see ${name}`)
  }
  return { clock, server, linkErrors, node, stillServes }
}

async function raw(url: string) {
  const s = await rawWebSocket(url)
  sockets.push(s)
  return s
}

function wsClient(url: string) {
  const ws = new WebSocket(url)
  sockets.push(ws)
  const got: { type: string; reason?: string }[] = []
  ws.on('message', (d) => got.push(JSON.parse(String(d)) as { type: string; reason?: string }))
  ws.on('error', () => {}) // the server may drop us; `closed` says how
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason) })))
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, got, closed, opened }
}

describe('a topology server never dies of input', () => {
  const broken: [string, () => Buffer, RegExp][] = [
    ['a frame with an unknown opcode', () => frame({ opcode: 0x3, payload: 'x' }), /invalid opcode 3/],
    ['a text frame that is not UTF-8', () => frame({ opcode: 0x1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }), /invalid UTF-8/],
    ['a frame with a reserved bit set', () => frame({ opcode: 0x1, payload: '{}', rsv: 4 }), /RSV1 must be clear/],
    ['an unmasked client frame', () => frame({ opcode: 0x1, payload: '{}', mask: false }), /MASK must be set/],
    ['a control frame split in two', () => frame({ opcode: 0x9, payload: 'ping', fin: false }), /FIN must be set/],
  ]
  for (const [what, bytes, why] of broken) {
    it(`drops a connection that sends ${what}, before any hello, and keeps serving`, async () => {
      const { server, linkErrors, stillServes } = await start()
      const s = await raw(server.url)
      s.write(bytes())
      await s.closed
      await waitFor(() => linkErrors.length === 1, 'the dropped connection to be reported')
      expect(linkErrors[0]).toMatch(/^dropped a connection from 127\.0\.0\.1:\d+: /)
      expect(linkErrors[0]).toMatch(why)
      expect(server.service.stats.linkErrors).toBe(1)
      await stillServes()
    })
  }

  it('drops a connection that sends a 2 MB message, and keeps serving', async () => {
    const { server, linkErrors, stillServes } = await start()
    const big = wsClient(server.url)
    await big.opened
    big.ws.send('x'.repeat(2 * 1024 * 1024))
    expect((await big.closed).code).toBe(1009) // "message too big", said by ws before the drop
    await waitFor(() => linkErrors.length === 1, 'the dropped connection to be reported')
    expect(linkErrors[0]).toMatch(/Max payload size exceeded/)
    await stillServes()
  })

  it('answers binary garbage and text that is not JSON as malformed, disconnects after 10, and keeps serving', async () => {
    const { server, stillServes } = await start()
    const bin = wsClient(server.url)
    await bin.opened
    bin.ws.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x81]))
    const text = wsClient(server.url)
    await text.opened
    text.ws.send('this is { not json')
    await waitFor(() => bin.got.length === 1 && text.got.length === 1, 'answers to both')
    expect(bin.got[0]).toMatchObject({ type: 'error', reason: expect.stringMatching(/^malformed message/) })
    expect(text.got[0]).toMatchObject({ type: 'error', reason: expect.stringMatching(/^malformed message/) })
    await stillServes()
    for (let i = 0; i < 9; i++) bin.ws.send(Buffer.from([i, 0xff]))
    expect(await bin.closed).toEqual({ code: 1000, reason: '10 malformed messages' })
    expect(server.service.stats.malformedDisconnects).toBe(1)
    await stillServes()
  })

  it('drops an admitted member whose message it cannot handle (a signal too deeply nested to relay), and keeps serving', async () => {
    const { server, clock, linkErrors, stillServes } = await start()
    const m = wsClient(server.url)
    await m.opened
    const ts = clock.now()
    const nonce = randomNonce()
    m.ws.send(JSON.stringify({ type: 'hello', clusterId: 'wsc', nodeId: 'm', engines: [], ts, nonce, proof: await helloProof(SECRET, 'wsc', 'm', ts, nonce) }))
    await waitFor(() => m.got.some((g) => g.type === 'welcome'), 'm admitted')
    const depth = 300_000
    m.ws.send(`{"type":"signal","to":"watcher","data":${'['.repeat(depth)}${']'.repeat(depth)}}`)
    await m.closed
    await waitFor(() => linkErrors.length === 1, 'the dropped connection to be reported')
    expect(linkErrors[0]).toMatch(/Maximum call stack size exceeded/)
    await stillServes()
  })

  it('refuses a hello whose reason quotes more than a close frame can carry (non-ASCII cluster id), and keeps serving', async () => {
    const { server, clock, stillServes } = await start()
    const c = wsClient(server.url)
    await c.opened
    const ts = clock.now()
    const nonce = randomNonce()
    const cluster = 'ü'.repeat(100) // 100 characters, 200 bytes of UTF-8
    c.ws.send(JSON.stringify({ type: 'hello', clusterId: cluster, nodeId: 'a', engines: [], ts, nonce, proof: await helloProof(SECRET, cluster, 'a', ts, nonce) }))
    const { code, reason } = await c.closed
    expect(code).toBe(1000)
    expect(c.got).toEqual([{ type: 'refused', reason: `wrong cluster "${cluster}"` }])
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123)
    expect(`wrong cluster "${cluster}"`.startsWith(reason)).toBe(true)
    await stillServes()
  })

  it('refuses a connection that has not said hello within the hello timeout, and keeps serving', async () => {
    const { server, clock, stillServes } = await start()
    const silent = wsClient(server.url)
    await silent.opened // the server took it in before it answered the upgrade
    await clock.advance(10_000)
    expect(await silent.closed).toEqual({ code: 1000, reason: 'no valid hello within 10000 ms' })
    expect(silent.got).toEqual([{ type: 'refused', reason: 'no valid hello within 10000 ms' }])
    await stillServes()
  })

  it('with 300 silent connections, refuses those beyond 256 at once, and admits again once the rest time out', async () => {
    const { server, clock, node, stillServes } = await start()
    const silent = Array.from({ length: 300 }, () => wsClient(server.url))
    let closed = 0
    for (const s of silent) void s.closed.then(() => closed++)
    await waitFor(() => closed === 44, '44 connections refused')
    const refused = silent.filter((s) => s.got.length > 0)
    expect(refused).toHaveLength(44)
    for (const s of refused) expect(s.got).toEqual([{ type: 'refused', reason: 'too many connections have not said hello yet (256); try again later' }])
    // A real node is refused too while 256 connections wait: that is the cap, not a crash.
    await expect(node('late').c.connect()).rejects.toThrow(/too many connections have not said hello yet/)
    expect(closed).toBe(44)
    await clock.advance(10_000)
    await waitFor(() => closed === 300, 'the silent connections to time out')
    await stillServes()
  })
})
