/**
 * The topology service against input it must survive: links that never say hello, too many of
 * them, members that keep sending malformed messages, and reports that would mark a healthy node
 * down. In-process links and a fake clock; the same over real sockets is in ws-hardening.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { helloProof, randomNonce } from '../../src/topology/auth.js'
import { TopologyClient } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import type { View } from '../../src/topology/view.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const SECRET = 's3cret'

function setup(opts: Partial<ConstructorParameters<typeof TopologyService>[0]> = {}) {
  const clock = new FakeClock(1_000_000)
  const service = new TopologyService({ clusterId: 'c1', secret: SECRET, clock, settings: { domainCount: 8, replicas: 2 }, healDelayMs: 5000, heartbeatMs: 1000, ...opts })
  /** A node; `wrap` may stand between it and its link (a network with delays). */
  const client = (name: string, wrap: (link: TopologyLink) => TopologyLink = (l) => l) => {
    const c = new TopologyClient({
      clusterId: 'c1',
      nodeId: nodeId(name),
      secret: SECRET,
      clock,
      engines: () => [],
      connect: async () => {
        const [node, svc] = localLinkPair()
        service.accept(svc)
        return wrap(node)
      },
    })
    const views: View[] = []
    c.events.on('view', ({ view }) => views.push(view))
    return { c, views, last: () => views[views.length - 1]! }
  }
  /** A raw link, as anyone on the network can open: what it hears, and whether it was closed. */
  const raw = () => {
    const [node, svc] = localLinkPair()
    service.accept(svc)
    const got: unknown[] = []
    const closed: string[] = []
    node.onMessage((m) => got.push(m))
    node.onClose((r) => closed.push(r))
    return { node, got, closed }
  }
  const settle = async (ms = 0) => {
    await flushMicrotasks(100)
    if (ms) await clock.advance(ms)
    await flushMicrotasks(100)
  }
  return { clock, service, client, raw, settle }
}

const status = (v: View | undefined, n: string) => v?.members.find((m) => m.nodeId === n)?.status

describe('topology service input limits', () => {
  it('refuses a link that has not said a valid hello within the hello timeout', async () => {
    const { raw, settle, service } = setup({ helloTimeoutMs: 10_000 })
    const silent = raw()
    await settle(9_999)
    expect(silent.got).toEqual([])
    expect(silent.closed).toEqual([])
    await settle(1)
    expect(silent.got).toEqual([{ type: 'refused', reason: 'no valid hello within 10000 ms' }])
    expect(silent.closed).toEqual(['no valid hello within 10000 ms'])
    expect(service.stats.refused).toBe(1)
  })

  it('a node admitted in time is not refused later', async () => {
    const { client, settle, service } = setup({ helloTimeoutMs: 10_000 })
    const a = client('a')
    await a.c.connect()
    await settle(30_000)
    expect(status(a.last(), 'a')).toBe('up')
    expect(a.c.connected).toBe(true)
    expect(service.stats.refused).toBe(0)
  })

  it('refuses new links at once beyond the cap on links that have not said hello, and admits again once they time out', async () => {
    const { raw, client, settle, service } = setup({ maxWaitingLinks: 3, helloTimeoutMs: 10_000 })
    // Admitted nodes do not count against the cap.
    for (const n of ['a', 'b', 'c', 'd']) await client(n).c.connect()
    const silent = [raw(), raw(), raw()]
    const extra = raw()
    await settle()
    expect(extra.got).toEqual([{ type: 'refused', reason: 'too many connections have not said hello yet (3); try again later' }])
    expect(extra.closed).toHaveLength(1)
    for (const s of silent) expect(s.closed).toEqual([])
    await settle(10_000)
    for (const s of silent) expect(s.closed).toEqual(['no valid hello within 10000 ms'])
    const e = client('e')
    await e.c.connect()
    expect(e.last().members.map((m) => m.nodeId).sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(service.stats.refused).toBe(4) // extra and the three silent ones
  })

  it('disconnects a link that keeps sending malformed messages, before or after hello; a member may come back', async () => {
    const { raw, client, settle, clock, service } = setup({ maxMalformed: 10 })
    const anon = raw()
    for (let i = 0; i < 9; i++) anon.node.send({ type: 'nonsense', i })
    await settle()
    expect(anon.got).toHaveLength(9)
    expect(anon.got[0]).toMatchObject({ type: 'error', reason: expect.stringMatching(/^malformed message/) })
    expect(anon.closed).toEqual([])
    anon.node.send({ type: 'nonsense' })
    await settle()
    expect(anon.closed).toEqual(['10 malformed messages'])

    const watcher = client('w')
    await watcher.c.connect()
    const m = raw()
    const ts = clock.now()
    const nonce = randomNonce()
    m.node.send({ type: 'hello', clusterId: 'c1', nodeId: 'm', engines: [], ts, nonce, proof: await helloProof(SECRET, 'c1', 'm', ts, nonce) })
    await settle()
    expect(status(watcher.last(), 'm')).toBe('up')
    for (let i = 0; i < 9; i++) m.node.send({ type: 'heartbeat', extra: i } as object) // well-formed, counted as seen
    for (let i = 0; i < 9; i++) m.node.send({ type: 'owned', domain: -1, node: 'm' })
    await settle()
    expect(m.closed).toEqual([])
    m.node.send({ type: 'owned', domain: 'x', node: 'm' })
    await settle()
    expect(m.closed).toEqual(['10 malformed messages'])
    expect(status(watcher.last(), 'm')).toBe('down')
    expect(service.stats.malformedDisconnects).toBe(2)
    // Disconnected, not banned: the node may say hello again.
    const back = client('m')
    await back.c.connect()
    expect(status(back.last(), 'm')).toBe('up')
  })

  it('a member reporting a healthy peer again and again cannot get it marked down while the service hears its heartbeats', async () => {
    const { client, settle, clock, service } = setup({ missedHeartbeats: 100 })
    const a = client('a')
    await a.c.connect()
    // b's heartbeats cross a jittery network: every other one takes 300 ms, so two of them arrive
    // up to 1.3 heartbeat intervals apart. b is healthy all along.
    let turn = 0
    const jittery = (link: TopologyLink): TopologyLink => ({
      send: (msg) => {
        if ((msg as { type?: string }).type === 'heartbeat' && turn++ % 2 === 1) clock.setTimeout(() => link.send(msg), 300)
        else link.send(msg)
      },
      close: (r) => link.close(r),
      onMessage: (h) => link.onMessage(h),
      onClose: (h) => link.onClose(h),
    })
    const b = client('b', jittery)
    await b.c.connect()
    await settle()
    // a's data channel to b keeps dropping (say, a flaky path between the two): it reports b every 100 ms for 10 s.
    for (let i = 0; i < 100; i++) {
      await settle(100)
      a.c.report(nodeId('b'))
    }
    await settle()
    const sinceJoin = a.views.slice(a.views.findIndex((v) => status(v, 'b') === 'up'))
    expect(sinceJoin.length).toBeGreaterThan(0)
    expect(sinceJoin.map((v) => status(v, 'b')).filter((s) => s !== 'up')).toEqual([])
    expect(service.stats.reportsIgnored).toBe(100)
    expect(b.c.connected).toBe(true)
    expect(turn).toBeGreaterThanOrEqual(9) // b heartbeated all along
  })
})
