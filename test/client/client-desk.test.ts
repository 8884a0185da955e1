/**
 * The topology service's side of clients (server/client-desk.ts), in process with a fake clock:
 * admitted by token, never a member, signaled only to and from members, out when the token ends.
 */
import { describe, expect, it } from 'vitest'
import { TopologyService } from '../../src/server/topology-service.js'
import { TopologyClient, TopologyRefusedError } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import type { View } from '../../src/topology/view.js'
import { nodeId } from '../../src/ids.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'
import { generateClientKeys, issueClientToken } from '../../src/auth/issue.js'
import { waitFor } from '../helpers/wait.js'
import { MeshClient, WebRtcTransport } from '../../src/node.js'
import { TimeoutError } from '../../src/errors.js'
import { RealClock } from '../../src/util/clock.js'

const SECRET = 's3cret-desk'

async function setup(withKey = true) {
  const clock = new FakeClock(1_000_000_000)
  const keys = await generateClientKeys()
  const service = new TopologyService({ clusterId: 'c1', secret: SECRET, clock, settings: { domainCount: 8, replicas: 2 }, healDelayMs: 5000, heartbeatMs: 1000, ...(withKey ? { clientAuth: { publicKey: keys.publicKeyPem } } : {}) })
  const connect = async () => {
    const [node, svc] = localLinkPair()
    service.accept(svc)
    return node
  }
  const token = (subject: string, ttlS = 60) => issueClientToken(keys.privateKey, { clusterId: 'c1', subject, access: { shop: 'read-write' }, ttlS, now: Math.floor(clock.now() / 1000) })
  const member = async (name: string) => {
    const c = new TopologyClient({ clusterId: 'c1', nodeId: nodeId(name), secret: SECRET, clock, engines: () => [], connect })
    const views: View[] = []
    const signals: { from: string; data: unknown; client?: boolean }[] = []
    c.events.on('view', ({ view }) => views.push(view))
    c.events.on('signal', (s) => signals.push(s))
    await c.connect()
    return { c, views, signals }
  }
  const client = (name: string, tok: () => Promise<string>) => {
    const c = new TopologyClient({ clusterId: 'c1', nodeId: nodeId(name), token: tok, clock, engines: () => [], connect })
    const signals: { from: string; data: unknown }[] = []
    const errors: string[] = []
    c.events.on('signal', (s) => signals.push(s))
    c.events.on('error', ({ error }) => errors.push(error.message))
    return { c, signals, errors }
  }
  /** A client's link opened by hand: raw messages in and out. */
  const raw = async () => {
    const link: TopologyLink = await connect()
    const got: Record<string, unknown>[] = []
    let closed: string | undefined
    link.onMessage((m) => got.push(m as Record<string, unknown>))
    link.onClose((r) => (closed = r))
    return { link, got, closed: () => closed }
  }
  return { clock, service, keys, token, member, client, raw }
}

describe('the topology service and its clients', { timeout: 20_000 }, () => {
  it('welcomes a client with the view, lists it in no view, and relays signals between it and members only, marked as a client\'s', async () => {
    const { service, member, client, token } = await setup()
    const a = await member('a')
    const epoch = service.view().epoch
    const c = client('c-1', () => token('alice'))
    const w = await c.c.connect()
    expect(w.view.members.map((m) => m.nodeId)).toEqual(['a'])
    await flushMicrotasks(50)
    expect(service.view().epoch).toBe(epoch)
    c.c.signal(nodeId('a'), { cid: 'x', data: 'offer' })
    await waitFor(() => a.signals.length === 1, 'the signal at the member')
    expect(a.signals[0]).toEqual({ from: 'c-1', data: { cid: 'x', data: 'offer' }, client: true })
    a.c.signal(nodeId('c-1'), { cid: 'x', data: 'answer' })
    await waitFor(() => c.signals.length === 1, 'the answer at the client')
    // Not to another client.
    const d = client('c-2', () => token('bob'))
    await d.c.connect()
    c.c.signal(nodeId('c-2'), { cid: 'y', data: 'offer' })
    await waitFor(() => c.errors.some((e) => /cannot signal c-2/.test(e)), 'the refusal')
    expect(d.signals).toEqual([])
    // Leaving changes no view either.
    c.c.leave()
    c.c.close()
    await flushMicrotasks(50)
    expect(service.view().epoch).toBe(epoch)
  })

  it('refuses a client without a valid token, with a reason, and all clients when it has no client key', async () => {
    const { client, keys } = await setup()
    const other = await generateClientKeys()
    const forged = client('c-1', () => issueClientToken(other.privateKey, { clusterId: 'c1', subject: 'x', access: {}, ttlS: 60, now: 1_000_000 }))
    await expect(forged.c.connect()).rejects.toThrow(/invalid token/)
    const garbage = client('c-2', async () => 'not.a.jwt')
    await expect(garbage.c.connect()).rejects.toThrow(TopologyRefusedError)
    void keys
    const none = await setup(false)
    const c = none.client('c-3', () => none.token('alice'))
    await expect(c.c.connect()).rejects.toThrow(/admits no clients/)
  })

  it('a client cannot send what only members may (reports, ownership, copies), nor take a member\'s id; a member cannot take a live client\'s', async () => {
    const { service, member, raw, token } = await setup()
    await member('a')
    await member('b')
    const epoch = service.view().epoch
    const r = await raw()
    r.link.send({ type: 'client-hello', clusterId: 'c1', nodeId: 'c-9', token: await token('mallory') })
    await waitFor(() => r.got.some((m) => m.type === 'welcome'), 'the welcome')
    for (const msg of [{ type: 'report', peer: 'a' }, { type: 'owned', domain: 1, node: 'c-9' }, { type: 'lagging', domain: 1, node: 'a' }, { type: 'copies', copies: [] }, { type: 'engines', engines: [] }]) r.link.send(msg)
    await waitFor(() => r.got.filter((m) => m.type === 'error').length === 5, 'five refusals')
    expect(r.got.filter((m) => m.type === 'error').map((m) => m.reason)).toEqual(['report', 'owned', 'lagging', 'copies', 'engines'].map((t) => `a client may not send "${t}"`))
    expect(service.view().epoch).toBe(epoch)
    expect(service.view().members.every((m) => m.status === 'up')).toBe(true)
    const r2 = await raw()
    r2.link.send({ type: 'client-hello', clusterId: 'c1', nodeId: 'a', token: await token('mallory') })
    await waitFor(() => r2.closed() !== undefined, 'the refusal')
    expect(r2.got).toContainEqual({ type: 'refused', reason: 'id "a" is taken' })
    await expect(member('c-9')).rejects.toThrow(/is a client's/)
  })

  it('closes a client\'s link when its token expires, unless it sent a fresh one for the same subject', async () => {
    const { clock, raw, token, member } = await setup()
    await member('a')
    const r = await raw()
    r.link.send({ type: 'client-hello', clusterId: 'c1', nodeId: 'c-1', token: await token('alice', 10) })
    const keep = await raw()
    keep.link.send({ type: 'client-hello', clusterId: 'c1', nodeId: 'c-2', token: await token('alice', 10) })
    await waitFor(() => r.got.some((m) => m.type === 'welcome') && keep.got.some((m) => m.type === 'welcome'), 'both welcomed')
    await clock.advance(5000)
    keep.link.send({ type: 'token', token: await token('alice', 60) })
    // A fresh token of someone else is not taken.
    r.link.send({ type: 'token', token: await token('bob', 60) })
    await waitFor(() => r.got.some((m) => m.type === 'error' && /another subject/.test(String(m.reason))), 'the refusal of bob\'s token')
    await new Promise((res) => setTimeout(res, 50))
    await clock.advance(6000)
    await flushMicrotasks(50)
    expect(r.closed()).toBe('token expired')
    expect(keep.closed()).toBeUndefined()
  })

  it('a client started while the cluster has no member gives up after startTimeoutMs with a TimeoutError that says why', async () => {
    const keys = await generateClientKeys()
    const service = new TopologyService({ clusterId: 'c1', secret: SECRET, clock: new RealClock(), settings: { domainCount: 8, replicas: 2 }, clientAuth: { publicKey: keys.publicKeyPem } })
    const token = await issueClientToken(keys.privateKey, { clusterId: 'c1', subject: 'early', access: { shop: 'read' } })
    const connect = async () => {
      const [node, svc] = localLinkPair()
      service.accept(svc)
      return node
    }
    const c = new MeshClient({ clusterId: 'c1', topology: { connect }, token, transport: new WebRtcTransport({ role: 'client' }), startTimeoutMs: 300 })
    const err = await c.start().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toMatch(/does the cluster have a member yet/)
    // It said goodbye: the service holds nothing for it.
    await waitFor(() => service.clients.size === 0, 'the client gone from the service')
    service.close()
  })
})
