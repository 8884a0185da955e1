/**
 * The client role (issue 34) over real WebRTC (node-datachannel) and a real topology server:
 * three members, clients with tokens from an app's key. What a client can do, and every way an
 * untrusted browser could try more, refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId, type NodeId } from '../../src/ids.js'
import { ForbiddenError, UnauthorizedError } from '../../src/auth/credentials.js'
import { generateClientKeys, issueClientToken, MeshClient, MeshNode, serveClients, startTopologyServer, WebRtcTransport, type ClientKeys, type TopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { STORE_ENGINE_ID } from '../../src/store/port.js'
import { SESSION_ENGINE_ID } from '../../src/session/engine.js'
import type { ChangeEvent } from '../../src/store/watch.js'
import { sleep, waitFor } from '../helpers/wait.js'
import { virtualServerId } from '../../src/ids.js'

const CLUSTER = 'clients'
const SECRET = 'member-secret-1'
const rtc = () => new WebRtcTransport({ rtcConfig: { bindAddress: '127.0.0.1' } })
const clientRtc = () => new WebRtcTransport({ role: 'client', rtcConfig: { bindAddress: '127.0.0.1' } })

let server: TopologyServer
let keys: ClientKeys
const members: MeshNode[] = []
const clients: MeshClient[] = []

const token = (subject: string, access: Record<string, 'read' | 'read-write'>, ttlS = 600, now?: number) =>
  issueClientToken(keys.privateKey, { clusterId: CLUSTER, subject, access, ttlS, ...(now === undefined ? {} : { now }) })

async function client(subject: string, access: Record<string, 'read' | 'read-write'> = { shop: 'read-write' }, opts: { maxLinks?: number } = {}): Promise<MeshClient> {
  const t = await token(subject, access)
  const c = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: t, transport: clientRtc(), ...opts })
  clients.push(c)
  return c.start()
}

beforeAll(async () => {
  keys = await generateClientKeys()
  server = await startTopologyServer({ clusterId: CLUSTER, secret: SECRET, settings: { domainCount: 16, replicas: 2 }, heartbeatMs: 200, healDelayMs: 5000, clientAuth: { publicKey: keys.publicKeyPem } })
  for (const name of ['m1', 'm2', 'm3']) {
    const m = new MeshNode({ clusterId: clusterId(CLUSTER), nodeId: nodeId(name), transport: rtc(), storage: new MemoryStorage(), clock: new RealClock(), topology: { urls: [server.url], secret: SECRET }, clients: serveClients({ publicKey: keys.publicKeyPem }) })
    members.push(await m.start())
  }
  await Promise.all(members.map((m) => m.ready({ members: 3 })))
}, 60_000)

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const m of members) await m.close()
  await server?.close()
})

describe('a client', { timeout: 60_000 }, () => {
  it('reads, writes, updates and subscribes with the member API, through at most maxLinks links, and is in no view', async () => {
    const c = await client('alice', { shop: 'read-write' }, { maxLinks: 2 })
    const s = c.store('shop')
    const heard: ChangeEvent[] = []
    s.subscribe({ prefix: 'cart:' }, (e) => heard.push(e))
    for (let i = 0; i < 40; i++) await s.put(`cart:${i}`, { n: i, items: [] })
    await s.update<{ n: number; items: string[] }>('cart:7', (d) => void d.items.push('apple'))
    expect(await s.get('cart:7')).toEqual({ n: 7, items: ['apple'] })
    // Written by the client, read on a member: the same store.
    expect(await members[2]!.store('shop').get('cart:39')).toEqual({ n: 39, items: [] })
    expect(c.linkedMembers.length).toBeLessThanOrEqual(2)
    await waitFor(() => heard.length >= 41, `every change heard by the subscriber (heard ${heard.length}: ${heard.map((e) => e.key).join(",")})`)
    expect(heard.find((e) => e.key === 'cart:7' && e.change.kind === 'patch')).toBeDefined()
    // The local copy follows the subscription.
    await members[0]!.store('shop').put('cart:3', { n: 300, items: [] })
    await waitFor(async () => (await s.get('cart:3', { from: 'local' })) !== undefined && ((await s.get<{ n: number }>('cart:3', { from: 'local' }))!.n === 300), 'the local copy to follow')
    // Never a member: no view lists it, no domain is placed on it.
    for (const m of members) expect(m.topology.view().members.map((x) => x.nodeId)).not.toContain(c.nodeId)
  })

  it('with a single link, reaches the primaries it has no link to through the member it is linked to', async () => {
    const c = await client('relay', { shop: 'read-write' }, { maxLinks: 1 })
    const s = c.store('shop')
    const primaries = new Set<string>()
    for (let i = 0; i < 30; i++) {
      await s.put(`relay:${i}`, { i })
      primaries.add(members[0]!.state.placement(members[0]!.state.domainOf(members[0]!.store('shop').virtualServerId, `relay:${i}`)).primary!)
    }
    expect(primaries.size).toBeGreaterThan(1)
    expect(c.linkedMembers).toHaveLength(1)
    for (let i = 0; i < 30; i++) expect(await members[i % 3]!.store('shop').get(`relay:${i}`)).toEqual({ i })
    await s.patch('relay:5', [{ op: 'replace', path: ['i'], value: 50 }])
    expect(await s.get('relay:5')).toEqual({ i: 50 })
  })

  it('keeps its cache in storage across page loads: a local read needs no link', async () => {
    const disk = new MemoryStorage()
    const t = await token('frank', { shop: 'read-write' })
    const first = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: t, transport: clientRtc(), cache: disk })
    clients.push(first)
    await first.start()
    await first.store('shop').put('f:1', { n: 1 })
    expect(await first.store('shop').get('f:2')).toBeUndefined()
    await first.close()
    const second = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: t, transport: clientRtc(), cache: disk })
    clients.push(second)
    await second.start()
    expect(await second.store('shop').get('f:1', { from: 'local' })).toEqual({ n: 1 })
    expect(await second.store('shop').getVersioned('f:2', { from: 'local' })).toBeUndefined()
    expect(second.linkedMembers).toEqual([])
    // A primary read still goes to the primary.
    await members[0]!.store('shop').put('f:1', { n: 2 })
    expect(await second.store('shop').get('f:1')).toEqual({ n: 2 })
  })

  it('closes links it has not used for idleMs, all but the most recent one', async () => {
    const t = await token('kim', { shop: 'read-write' })
    const c = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: t, transport: clientRtc(), maxLinks: 3, idleMs: 200 })
    clients.push(c)
    await c.start()
    const view = members[0]!.state
    const vs = members[0]!.store('shop').virtualServerId
    // One key led by each member: three links.
    const keyOf = new Map<string, string>()
    for (let i = 0; keyOf.size < 3; i++) keyOf.set(view.placement(view.domainOf(vs, `k${i}`)).primary!, `k${i}`)
    for (const k of keyOf.values()) await c.store('shop').get(k)
    expect(c.linkedMembers).toHaveLength(3)
    await waitFor(() => c.linkedMembers.length === 1, 'the idle links closed', 5000)
  })

  it('never closes the link that holds its subscriptions for idleness: no change is missed while it idles', async () => {
    const t = await token('gina', { shop: 'read-write' })
    const c = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: t, transport: clientRtc(), maxLinks: 2, idleMs: 200 })
    clients.push(c)
    await c.start()
    const s = c.store('shop')
    const heard = new Set<string>()
    s.subscribe({ prefix: 'idle:' }, (e) => heard.add(e.key))
    // A call to a key led by another member than the one holding the subscriptions: that link is
    // the most recent, the subscriptions' link the older, idle one.
    await s.get('nothing-here')
    const home = c.linkedMembers[0]!
    const view = members[0]!.state
    let other = 0
    while (view.placement(view.domainOf(members[0]!.store('shop').virtualServerId, `x${other}`)).primary === home) other++
    await s.get(`x${other}`)
    // Members write while the client does nothing, for several idle periods.
    const writer = members.find((m) => m.nodeId !== home)!
    for (let i = 0; i < 40; i++) {
      await writer.store('shop').put(`idle:${i}`, { i })
      await new Promise((r) => setTimeout(r, 25))
    }
    await waitFor(() => heard.size === 40, `every change heard (heard ${heard.size})`)
    expect(c.linkedMembers).toContain(home)
  })

  it('is refused by the topology service without a valid token', async () => {
    const other = await generateClientKeys()
    const forged = await issueClientToken(other.privateKey, { clusterId: CLUSTER, subject: 'mallory', access: { '*': 'read-write' } })
    const c1 = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: forged, transport: clientRtc() })
    clients.push(c1)
    await expect(c1.start()).rejects.toThrow(UnauthorizedError)
    const expired = await token('alice', { shop: 'read-write' }, 60, Math.floor(Date.now() / 1000) - 3600)
    const c2 = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: expired, transport: clientRtc() })
    clients.push(c2)
    await expect(c2.start()).rejects.toThrow(/token expired/)
    const otherCluster = await issueClientToken(keys.privateKey, { clusterId: 'another', subject: 'alice', access: { shop: 'read-write' } })
    const c3 = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: otherCluster, transport: clientRtc() })
    clients.push(c3)
    await expect(c3.start()).rejects.toThrow(/invalid token/)
  })

  it('may only do what its token grants: no writes with read access, nothing in another virtual server', async () => {
    await members[0]!.store('shop').put('price:1', { eur: 3 })
    await members[0]!.store('billing').put('invoice:1', { eur: 100 })
    const reader = await client('bob', { shop: 'read' })
    expect(await reader.store('shop').get('price:1')).toEqual({ eur: 3 })
    await expect(reader.store('shop').put('price:1', { eur: 0 })).rejects.toThrow(ForbiddenError)
    await expect(reader.store('billing').get('invoice:1')).rejects.toThrow(ForbiddenError)
    expect(() => reader.store('billing').subscribe('invoice:1', () => {})).not.toThrow()
    expect(await members[1]!.store('shop').get('price:1')).toEqual({ eur: 3 })
  })

  it('cannot call a member\'s internal methods: replication, fetch, lead, status, session hand-over', async () => {
    const c = await client('mallory', { '*': 'read-write' })
    await c.store('shop').get('anything')
    const m = c.linkedMembers[0]! as NodeId
    const from = { clusterId: clusterId(CLUSTER), nodeId: c.nodeId, engineId: STORE_ENGINE_ID }
    const store = { clusterId: clusterId(CLUSTER), nodeId: m, engineId: STORE_ENGINE_ID }
    const session = { clusterId: clusterId(CLUSTER), nodeId: m, engineId: SESSION_ENGINE_ID }
    const messenger = (c as unknown as { messengerRef: { request: (f: unknown, t: unknown, m: string, b: unknown) => Promise<unknown> } }).messengerRef
    for (const [to, method, body] of [
      [store, 'repl', { type: 'ack', domain: 0, epoch: 1, seq: 1 }],
      [store, 'fetch', { domain: 0 }],
      [store, 'lead', { domain: 0, epoch: 1 }],
      [store, 'status', {}],
      [session, 'replicate', {}],
      [session, 'adopt', { vs: 'shop', clientId: 'x', put: [] }],
      [session, 'leads', { clients: [] }],
    ] as const) {
      await expect(messenger.request(from, to, method, body), `${method}`).rejects.toThrow(ForbiddenError)
    }
  })

  it('sessions are bound to the subject: another user cannot reach them, with or without a token', async () => {
    const alice = await client('alice', { shop: 'read-write' })
    const mine = alice.sessions({ virtualServer: 'shop' })
    const sid = await mine.create({ cart: ['pear'] })
    expect(await mine.get(sid)).toEqual({ cart: ['pear'] })
    const eve = await client('eve', { shop: 'read-write' })
    // Eve's own client object with Alice's failover token: refused.
    const stolen = eve.sessions({ virtualServer: 'shop', token: mine.token! })
    await expect(stolen.get(sid)).rejects.toThrow(ForbiddenError)
    // Eve's client with no token at all, the session id alone: refused.
    const bare = eve.sessions({ virtualServer: 'shop' })
    await expect(bare.get(sid)).rejects.toThrow(ForbiddenError)
    // And she cannot make a session in Alice's name.
    const impostor = eve.sessions({ virtualServer: 'shop', clientId: 'alice:tab' })
    await expect(impostor.create({})).rejects.toThrow(ForbiddenError)
    expect(await mine.get(sid)).toEqual({ cart: ['pear'] })
  })

  it('a virtual server named like an object\'s own property (constructor, toString) is not granted by any token', async () => {
    await members[0]!.store('constructor').put('secret:1', { v: 1 })
    await members[0]!.store('toString').put('secret:2', { v: 2 })
    const eve = await client('eve2', { shop: 'read' })
    await expect(eve.store('constructor').get('secret:1')).rejects.toThrow(ForbiddenError)
    await expect(eve.store('toString').get('secret:2')).rejects.toThrow(ForbiddenError)
  })

  it('a subject that is a prefix of another (ali, ali:ce) cannot reach the other\'s sessions', async () => {
    const victim = await client('ali:ce', { shop: 'read-write' })
    const theirs = victim.sessions({ virtualServer: 'shop' })
    const sid = await theirs.create({ card: '4111' })
    const ali = await client('ali', { shop: 'read-write' })
    const grab = ali.sessions({ virtualServer: 'shop', clientId: theirs.clientId })
    await expect(grab.create({})).rejects.toThrow(ForbiddenError)
    await expect(grab.get(sid)).rejects.toThrow(ForbiddenError)
    expect(await theirs.get(sid)).toEqual({ card: '4111' })
  })

  it('a refused subscription is told as an error and leaves the client\'s other subscriptions working', async () => {
    const c = await client('hal', { shop: 'read' })
    const errors: unknown[] = []
    c.events.on('error', ({ error }) => errors.push(error))
    const heard: string[] = []
    c.store('billing').subscribe('inv:1', () => heard.push('billing'))
    c.store('shop').subscribe('ok:1', () => heard.push('shop'))
    await waitFor(() => errors.some((e) => e instanceof ForbiddenError), 'the refusal told')
    await c.store('shop').get('ok:1')
    await members[1]!.store('shop').put('ok:1', { n: 1 })
    await waitFor(() => heard.includes('shop'), 'the allowed subscription heard')
    expect(heard).not.toContain('billing')
  })

  it('a store taken before close fails at once with ClosedError after it', async () => {
    const c = await client('ivy', { shop: 'read-write' })
    const s = c.store('shop')
    await s.put('ivy:1', 1)
    await c.close()
    const t0 = Date.now()
    await expect(s.put('ivy:2', 2)).rejects.toThrow(/closed/)
    expect(Date.now() - t0).toBeLessThan(1000)
  })

  it('comes back to the topology service after its token lapsed while the auth endpoint was away', async () => {
    let endpointUp = true
    const c = new MeshClient({
      clusterId: CLUSTER,
      topology: { urls: [server.url] },
      token: async () => {
        if (!endpointUp) throw new Error('auth endpoint unreachable')
        return token('jay', { shop: 'read-write' }, 2)
      },
      transport: clientRtc(),
    })
    clients.push(c)
    const connected: number[] = []
    const disconnected: string[] = []
    c.events.on('connected', () => connected.push(Date.now()))
    c.events.on('disconnected', ({ reason }) => disconnected.push(reason))
    c.events.on('error', () => {})
    await c.start()
    const welcomes = connected.length
    endpointUp = false
    await waitFor(() => disconnected.some((r) => /token expired/.test(r)), 'the service to end the link at expiry', 10_000)
    endpointUp = true
    await waitFor(() => connected.length > welcomes, 'the client welcomed again', 15_000)
    await c.store('shop').put('jay:1', { ok: true })
    expect(await members[0]!.store('shop').get('jay:1')).toEqual({ ok: true })
  })

  it('a call after its token expired is refused', async () => {
    const c = await client('carol', { shop: 'read-write' })
    await c.store('shop').put('c:1', 1)
    const m = c.linkedMembers[0]! as NodeId
    const messenger = (c as unknown as { messengerRef: { request: (f: unknown, t: unknown, m: string, b: unknown) => Promise<unknown> } }).messengerRef
    const from = { clusterId: clusterId(CLUSTER), nodeId: c.nodeId, engineId: STORE_ENGINE_ID }
    const to = { clusterId: clusterId(CLUSTER), nodeId: m, engineId: STORE_ENGINE_ID }
    // A token that expires in a second, shown on the link in place of the good one.
    const short = await token('carol', { shop: 'read-write' }, 1)
    await messenger.request(from, to, 'auth', { token: short })
    await new Promise((r) => setTimeout(r, 1100))
    await expect(messenger.request(from, to, 'read', { vs: 'shop', key: 'c:1' })).rejects.toThrow(UnauthorizedError)
    // A fresh token that grants less stops the subscriptions it no longer allows.
    await members[0]!.store('billing').put('inv:9', { eur: 1 })
    const heard: string[] = []
    const full = await token('carol', { shop: 'read-write', billing: 'read' })
    await messenger.request(from, to, 'auth', { token: full })
    await messenger.request(from, to, 'watch', { patterns: [{ vs: 'billing', key: 'inv:9' }, { vs: 'shop', key: 'c:1' }] })
    c.store('billing').subscribe('inv:9', () => heard.push('billing'))
    await messenger.request(from, to, 'auth', { token: await token('carol', { shop: 'read-write' }) })
    await members[0]!.store('billing').put('inv:9', { eur: 2 })
    await members[0]!.store('shop').put('c:1', 2)
    await new Promise((r) => setTimeout(r, 500))
    expect(heard).toEqual([])
    // Another subject's token cannot be swapped in on a link either.
    await expect(messenger.request(from, to, 'auth', { token: await token('dave', { shop: 'read-write' }) })).rejects.toThrow(UnauthorizedError)
  })

  it('keeps the link that holds its subscriptions when it needs room for another: a change made meanwhile is heard', async () => {
    const transport = clientRtc()
    const c = new MeshClient({ clusterId: CLUSTER, topology: { urls: [server.url] }, token: await token('frank', { shop: 'read-write' }), transport, maxLinks: 1 })
    clients.push(await c.start())
    const s = c.store('shop')
    const heard: unknown[] = []
    s.subscribe('watched:1', (e) => heard.push(e.change.kind === 'put' ? e.change.value : e.change))
    await s.get('watched:1')
    const [home] = c.linkedMembers
    // A key led by another member: the client's one link has to serve it, or make room for one.
    const m = members[0]!
    const elsewhere = Array.from({ length: 200 }, (_, i) => `elsewhere:${i}`).find((k) => m.state.placement(m.state.domainOf(virtualServerId('shop'), k)).primary !== home)!
    // Idle long enough to be closed to make room.
    await sleep(1100)
    // A change to the watched key while the client dials: the moment a closed home would miss it.
    let change: Promise<unknown> | undefined
    let armed = true
    transport.on('peer-down', () => void (armed && (change ??= m.store('shop').put('watched:1', { n: 1 }))))
    await s.put(elsewhere, 1)
    armed = false
    await (change ?? m.store('shop').put('watched:1', { n: 1 }))
    await waitFor(() => heard.length > 0, 'the change to the watched key heard')
    expect(heard).toEqual([{ n: 1 }])
    expect(c.linkedMembers).toEqual([home])
  })
})
