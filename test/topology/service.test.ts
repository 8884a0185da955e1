import { describe, expect, it } from 'vitest'
import { TopologyService } from '../../src/server/topology-service.js'
import { helloProof, randomNonce } from '../../src/topology/auth.js'
import { TopologyClient, TopologyRefusedError } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import type { View } from '../../src/topology/view.js'
import { domainRoles } from '../../src/topology/placement.js'
import { nodeId } from '../../src/ids.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const SECRET = 's3cret'

function setup(opts: Partial<ConstructorParameters<typeof TopologyService>[0]> = {}) {
  const clock = new FakeClock(1_000_000)
  const service = new TopologyService({ clusterId: 'c1', secret: SECRET, clock, settings: { domainCount: 8, replicas: 2 }, healDelayMs: 5000, heartbeatMs: 1000, ...opts })
  const client = (name: string, secret = SECRET, clusterId = 'c1') => {
    const c = new TopologyClient({
      clusterId,
      nodeId: nodeId(name),
      secret,
      clock,
      engines: () => [],
      connect: async () => {
        const [node, svc] = localLinkPair()
        service.accept(svc)
        return node
      },
    })
    const views: View[] = []
    const signals: unknown[] = []
    c.events.on('view', ({ view }) => views.push(view))
    c.events.on('signal', ({ from, data }) => signals.push({ from, data }))
    return { c, views, signals, last: () => views[views.length - 1]! }
  }
  const settle = async (ms = 0) => {
    await flushMicrotasks(100)
    if (ms) await clock.advance(ms)
    await flushMicrotasks(100)
  }
  /** a joins, then b: each welcomed before the next. */
  const twoNodes = async () => {
    const a = client('a')
    await a.c.connect()
    await settle()
    const b = client('b')
    await b.c.connect()
    await settle()
    return { a, b }
  }
  return { clock, service, client, settle, twoNodes }
}

const status = (v: View, n: string) => v.members.find((m) => m.nodeId === n)?.status
const primaryOf = (v: View, d: number) => domainRoles(v, { domainCount: 8, replicas: 2 }, d).primary

describe('topology service', () => {
  it('a stopped service changes nothing more: the links it closes are no failures', async () => {
    const { service, settle, twoNodes } = setup()
    const { a, b } = await twoNodes()
    const before = service.view()
    service.close()
    await settle(20_000) // past the heal delay: a member called down on its link's close would have left
    expect(service.view().members).toEqual(before.members)
    a.c.close()
    b.c.close()
  })

  it('only an owner makes a copy count, and a view once handed out keeps its owners when one does', async () => {
    const { service, settle, twoNodes } = setup()
    const { a, b } = await twoNodes()
    const view = service.view()
    const before = JSON.stringify(view.owners)
    // a finished copying one of its domains to b: b becomes an owner in the next view only.
    const d = Object.entries(view.owners ?? {}).find(([, o]) => o.includes('a' as never) && !o.includes('b' as never))
    expect(d).toBeDefined()
    // A report from a node that is no owner of the domain (a deposed primary copying its stale
    // line, as in sim seed 288) makes nobody an owner.
    b.c.owned(Number(d![0]), nodeId('b'))
    await settle(100)
    expect(service.view().owners?.[Number(d![0])]).not.toContain('b')
    a.c.owned(Number(d![0]), nodeId('b'))
    await flushMicrotasks(100)
    expect(JSON.stringify(view.owners)).toBe(before)
    await settle(100)
    expect(service.view().owners?.[Number(d![0])]).toContain('b')
    a.c.close()
    b.c.close()
    service.close()
  })

  it('drops an owner as lagging only on its own word or on its primary\'s while it is down', async () => {
    const { service, settle, twoNodes } = setup()
    const { a, b } = await twoNodes()
    for (const [d, o] of Object.entries(service.view().owners ?? {})) if (!o.includes('b' as never)) a.c.owned(Number(d), nodeId('b'))
    await settle(100)
    const owners = (d: number) => service.view().owners?.[d] ?? []
    expect(owners(0)).toEqual(expect.arrayContaining(['a', 'b']))
    const led = (n: string) => [...Array(8).keys()].filter((d) => primaryOf(service.view(), d) === n)
    const [byA] = led('a')
    const [byB] = led('b')
    expect(byA).toBeDefined()
    expect(byB).toBeDefined()
    // b, a backup of byA (say a deposed primary back from a pause, on an old view), reports a,
    // up and leading, as lagging: ignored, or a's complete copy would stop counting.
    b.c.lagging(byA!, nodeId('a'))
    // a, a backup of byB, reports b (up and leading) as lagging: ignored as well.
    a.c.lagging(byB!, nodeId('b'))
    await settle(100)
    expect(owners(byA!)).toContain('a')
    expect(owners(byB!)).toContain('b')
    // A node may always say its own copy is not complete (a damaged disk).
    b.c.lagging(byA!, nodeId('b'))
    await settle(100)
    expect(owners(byA!)).not.toContain('b')
    // The primary of a domain reports a down owner that lacks its commits.
    b.c.close()
    await settle(100)
    expect(status(service.view(), 'b')).toBe('down')
    const [alsoB] = [...Array(8).keys()].filter((d) => owners(d).includes(nodeId('b')) && owners(d).includes(nodeId('a')))
    a.c.lagging(alsoB!, nodeId('b'))
    await settle(100)
    expect(owners(alsoB!)).toEqual(['a'])
    a.c.close()
    service.close()
  })

  it('does not mark a newcomer down while its welcome waits for the view to be saved (it heartbeats only once welcomed)', async () => {
    // A disk (or etcd) slow under load: the saves wait until released.
    let release: () => void = () => {}
    let slow = true
    const store = { load: async () => undefined, save: () => (slow ? new Promise<void>((r) => (release = r)) : Promise.resolve()) }
    const { client, settle } = setup({ store })
    const a = client('a')
    let outcome = 'pending'
    a.c.connect().then(
      () => (outcome = 'welcomed'),
      (err: Error) => (outcome = err.message),
    )
    await settle()
    // Five heartbeat intervals, the sweeper's limit being three.
    for (let i = 0; i < 5; i++) await settle(1000)
    expect(outcome).toBe('pending')
    slow = false
    release()
    await settle()
    expect(outcome).toBe('welcomed')
    expect(a.last().members).toEqual([expect.objectContaining({ nodeId: 'a', status: 'up' })])
    // From the welcome on, the usual allowance: heartbeats keep it up.
    for (let i = 0; i < 5; i++) await settle(1000)
    expect(a.last().members).toEqual([expect.objectContaining({ nodeId: 'a', status: 'up' })])
    a.c.close()
  })

  it('admits nodes with a valid proof and publishes numbered views', async () => {
    const { client, settle } = setup()
    const a = client('a')
    const w = await a.c.connect()
    expect(w.settings).toEqual({ domainCount: 8, replicas: 2 })
    const b = client('b')
    await b.c.connect()
    await settle()
    expect(status(a.last(), 'b')).toBe('up')
    expect(a.last().epoch).toBeGreaterThan(w.view.epoch)
    expect(a.views.map((v) => v.epoch)).toEqual([...a.views.map((v) => v.epoch)].sort((x, y) => x - y))
  })

  it('refuses a wrong secret, a wrong cluster and, with a static topology, an unlisted node', async () => {
    const { client, service } = setup({ allowedNodes: ['a', 'b'] })
    await expect(client('a', 'wrong').c.connect()).rejects.toThrow(/bad proof: wrong cluster secret/)
    await expect(client('a', SECRET, 'c2').c.connect()).rejects.toThrow(/wrong cluster "c2"/)
    await expect(client('zed').c.connect()).rejects.toThrow(TopologyRefusedError)
    await expect(client('zed').c.connect()).rejects.toThrow(/not in the static topology/)
    expect(service.view().members).toEqual([])
    await client('a').c.connect()
    expect(service.view().members.map((m) => m.nodeId)).toEqual(['a'])
  })

  it('refuses a replayed hello, a stale timestamp, and anything before hello', async () => {
    const { service, clock, settle } = setup()
    const send = async (msg: object) => {
      const [node, svc] = localLinkPair()
      service.accept(svc)
      const got: unknown[] = []
      node.onMessage((m) => got.push(m))
      node.send(msg)
      await settle()
      await new Promise((r) => setTimeout(r, 5)) // WebCrypto answers outside the microtask queue
      await settle()
      return got
    }
    const ts = clock.now()
    const nonce = randomNonce()
    const hello = { type: 'hello', clusterId: 'c1', nodeId: 'a', engines: [], ts, nonce, proof: await helloProof(SECRET, 'c1', 'a', ts, nonce) }
    expect(await send(hello)).toMatchObject([{ type: 'welcome', view: { members: [{ nodeId: 'a', status: 'up' }] } }])
    expect(await send(hello)).toEqual([{ type: 'refused', reason: 'replayed hello (nonce already used)' }])
    const oldTs = ts - 10 * 60_000
    const n2 = randomNonce()
    expect(await send({ ...hello, ts: oldTs, nonce: n2, proof: await helloProof(SECRET, 'c1', 'a', oldTs, n2) })).toEqual([{ type: 'refused', reason: 'hello timestamp too far from the service clock' }])
    expect(await send({ type: 'heartbeat' })).toEqual([{ type: 'refused', reason: 'expected hello first' }])
    expect(await send({ type: 'hello' })).toMatchObject([{ type: 'error', reason: expect.stringMatching(/malformed/) }])
  })

  it('publishes which members are durable; a hello without the flag (an older peer) is an ephemeral member', async () => {
    const { service, clock, settle } = setup()
    const send = async (msg: object) => {
      const [node, svc] = localLinkPair()
      service.accept(svc)
      const got: unknown[] = []
      node.onMessage((m) => got.push(m))
      node.send(msg)
      await settle()
      await new Promise((r) => setTimeout(r, 5)) // WebCrypto answers outside the microtask queue
      await settle()
      return got
    }
    const hello = async (name: string, extra: object) => {
      const ts = clock.now()
      const nonce = randomNonce()
      return send({ type: 'hello', clusterId: 'c1', nodeId: name, engines: [], ts, nonce, proof: await helloProof(SECRET, 'c1', name, ts, nonce), ...extra })
    }
    await hello('old', {})
    await hello('disk', { durable: true })
    await hello('tab', { durable: false })
    expect(await hello('bad', { durable: 'yes' })).toMatchObject([{ type: 'error', reason: expect.stringMatching(/malformed/) }])
    const members = service.view().members
    expect(members.map((m) => [m.nodeId, m.durable === true])).toEqual([['old', false], ['disk', true], ['tab', false]])
    // Ephemeral members carry no flag at all, so their views look as they did before the flag.
    expect(members.filter((m) => 'durable' in m).map((m) => m.nodeId)).toEqual(['disk'])
  })

  it('relays signals between admitted members only', async () => {
    const { client, service, settle } = setup()
    const a = client('a')
    const b = client('b')
    await a.c.connect()
    await b.c.connect()
    a.c.signal(nodeId('b'), { sdp: 'offer' })
    a.c.signal(nodeId('nobody'), { sdp: 'x' })
    await settle()
    expect(b.signals).toEqual([{ from: 'a', data: { sdp: 'offer' } }])
    expect(service.stats.signalsRelayed).toBe(1)
    // An unauthenticated link cannot signal anyone.
    const [node, svc] = localLinkPair()
    service.accept(svc)
    node.send({ type: 'signal', to: 'b', data: 'sneaky' })
    await settle()
    expect(b.signals).toHaveLength(1)
  })

  it('marks a closed or silent member down at once, keeps it for healDelayMs, then removes it', async () => {
    const { client, settle, clock } = setup()
    const a = client('a')
    const b = client('b')
    const c = client('c')
    await a.c.connect()
    await b.c.connect()
    await c.c.connect()
    await settle()
    b.c.close() // the process died: its link closed
    await settle()
    expect(status(a.last(), 'b')).toBe('down')
    // c stops heartbeating without closing (a hung process).
    clock.clearTimeout((c.c as unknown as { heartbeat: { id: number } }).heartbeat)
    await settle(4100) // three heartbeats missed, seen by the next sweep
    expect(status(a.last(), 'c')).toBe('down')
    expect(status(a.last(), 'b')).toBe('down')
    await settle(1000) // b's grace is over
    expect(status(a.last(), 'b')).toBeUndefined()
    expect(a.last().members.map((m) => m.nodeId).sort()).toEqual(['a', 'c'])
  })

  it('a member that comes back within the grace is up again, with its slots unchanged', async () => {
    const { client, settle } = setup()
    const a = client('a')
    await a.c.connect()
    const b = client('b')
    await b.c.connect()
    await settle()
    const ownersBefore = a.last().owners
    b.c.close()
    await settle(2000)
    await client('b').c.connect()
    await settle(10_000)
    expect(status(a.last(), 'b')).toBe('up')
    expect(a.last().owners).toEqual(ownersBefore)
  })

  it('a report of a dropped channel marks a peer down only once it is silent here past its heartbeat allowance', async () => {
    const { client, service, settle, clock } = setup({ missedHeartbeats: 100 })
    const a = client('a')
    const b = client('b')
    await a.c.connect()
    await b.c.connect()
    a.c.report(nodeId('b'))
    await settle()
    expect(status(a.last(), 'b')).toBe('up')
    expect(service.stats.reportsIgnored).toBe(1)
    clock.clearTimeout((b.c as unknown as { heartbeat: { id: number } }).heartbeat)
    await settle(1500)
    a.c.report(nodeId('b'))
    await settle()
    expect(status(a.last(), 'b')).toBe('up') // one late heartbeat is not proof
    await settle(1000)
    a.c.report(nodeId('b'))
    await settle()
    expect(status(a.last(), 'b')).toBe('up') // nor two: the service allows b a hundred
    await settle(98_000)
    expect(status(a.last(), 'b')).toBe('up')
    a.c.report(nodeId('b'))
    await settle()
    expect(status(a.last(), 'b')).toBe('down')
  })

  it('lists new members as owners only after a copy is reported', async () => {
    const { client, settle, service } = setup()
    const a = client('a')
    await a.c.connect()
    const owners0 = service.view().owners!
    expect(Object.values(owners0).every((o) => o.length === 1 && o[0] === 'a')).toBe(true)
    const b = client('b')
    await b.c.connect()
    await settle()
    expect(Object.values(service.view().owners!).every((o) => o.join() === 'a')).toBe(true)
    a.c.owned(3, nodeId('b'))
    await settle()
    expect(service.view().owners![3]!.slice().sort()).toEqual(['a', 'b'])
    void b
  })
})
