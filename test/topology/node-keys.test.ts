/**
 * Node identity at the topology service (issue 34, item 4): a node id that is live is taken over
 * only by a hello that shows the node key kept with that node's data; a member's `report` is a
 * hint the service acts on only with its own evidence; signals carry the sender the service
 * admitted. In-process links and a fake clock; the etcd instances: etcd.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { nodeKeyHash } from '../../src/server/node-keys.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { MemoryTopologyStateStore } from '../../src/server/topology-state.js'
import { helloProof, randomNonce } from '../../src/topology/auth.js'
import { TopologyClient, TopologyRefusedError } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import type { View } from '../../src/topology/view.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const SECRET = 's3cret-keys'
const key = (c: string) => c.repeat(64)
const LIVE_ELSEWHERE = /node id a is live on another link and this hello does not prove its key/

function setup() {
  const clock = new FakeClock(1_000_000)
  const store = new MemoryTopologyStateStore()
  const newService = () => new TopologyService({ clusterId: 'c1', secret: SECRET, clock, settings: { domainCount: 8, replicas: 2 }, healDelayMs: 5000, heartbeatMs: 1000, store })
  let service = newService()
  /**
   * A node process. `kill()`: it dies without its socket closing (kill -9 before the kernel says
   * so, a machine that lost power): the service hears nothing more, neither heartbeats nor a close.
   * `stall()`/`unstall()`: it stops sending for a while (a busy or starved process), then sends
   * what queued up.
   */
  const node = (name: string, nodeKey?: string) => {
    let dead = false
    let held: (() => void)[] | undefined
    const c = new TopologyClient({
      clusterId: 'c1',
      nodeId: nodeId(name),
      secret: SECRET,
      ...(nodeKey ? { key: nodeKey } : {}),
      clock,
      engines: () => [],
      connect: async (): Promise<TopologyLink> => {
        const [n, svc] = localLinkPair()
        service.accept(svc)
        return {
          send: (m) => {
            if (dead) return
            if (held) held.push(() => n.send(m))
            else n.send(m)
          },
          close: (r) => !dead && n.close(r),
          onMessage: (h) => n.onMessage((m) => !dead && h(m)),
          onClose: (h) => n.onClose((r) => !dead && h(r)),
        }
      },
    })
    const views: View[] = []
    const signals: { from: string; data: unknown }[] = []
    const dropped: string[] = []
    c.events.on('view', ({ view }) => views.push(view))
    c.events.on('signal', ({ from, data }) => signals.push({ from, data }))
    c.events.on('disconnected', ({ reason }) => dropped.push(reason))
    return {
      c,
      views,
      signals,
      dropped,
      last: () => views[views.length - 1]!,
      kill: () => void (dead = true),
      stall: () => void (held = []),
      unstall: () => {
        const queued = held ?? []
        held = undefined
        for (const send of queued) send()
      },
    }
  }
  const settle = async (ms = 0) => {
    await flushMicrotasks(100)
    if (ms) await clock.advance(ms)
    await flushMicrotasks(100)
  }
  const join = async (name: string, nodeKey?: string) => {
    const n = node(name, nodeKey)
    await n.c.connect()
    await settle()
    return n
  }
  const restartService = async () => {
    service.close()
    service = newService()
    await service.loaded
  }
  return { clock, store, node, join, settle, restartService, service: () => service }
}

const status = (v: View | undefined, n: string) => v?.members.find((m) => m.nodeId === n)?.status

describe('node keys at the topology service', () => {
  it('refuses a hello with the cluster secret but another key, or none, for a live node id: the node keeps its link and its signals', async () => {
    const { node, join, settle, service } = setup()
    const a = await join('a', key('a'))
    const b = await join('b', key('b'))
    const impostor = node('a', key('f'))
    const err = await impostor.c.connect().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TopologyRefusedError)
    expect((err as Error).message).toMatch(LIVE_ELSEWHERE)
    // An older client shows no key at all: no better.
    await expect(node('a').c.connect()).rejects.toThrow(LIVE_ELSEWHERE)
    await settle()
    expect(service().stats.refused).toBe(2)
    expect(a.c.connected).toBe(true)
    expect(a.dropped).toEqual([])
    expect(status(b.last(), 'a')).toBe('up')
    // b's offers still reach the real a, and the impostor hears nothing.
    b.c.signal(nodeId('a'), { sdp: 'offer' })
    await settle()
    expect(a.signals).toEqual([{ from: 'b', data: { sdp: 'offer' } }])
    expect(impostor.signals).toEqual([])
    // a goes on heartbeating as before.
    await settle(10_000)
    expect(a.c.connected).toBe(true)
    expect(status(b.last(), 'a')).toBe('up')
  })

  it('a node restarted with its own key takes its id back at once, while its old link is still open', async () => {
    const { node, join, settle } = setup()
    const a = await join('a', key('a'))
    const b = await join('b', key('b'))
    a.kill() // kill -9; the service has not heard the socket close
    await expect(node('a', key('f')).c.connect()).rejects.toThrow(LIVE_ELSEWHERE)
    const again = node('a', key('a'))
    await again.c.connect() // no time passes: nothing waits for the old link to time out
    await settle()
    expect(again.c.connected).toBe(true)
    expect(status(b.last(), 'a')).toBe('up')
    b.c.signal(nodeId('a'), { sdp: 'offer' })
    await settle()
    expect(again.signals).toEqual([{ from: 'b', data: { sdp: 'offer' } }])
    expect(a.signals).toEqual([])
  })

  it('once the old link is closed or silent past its heartbeats, a new key (a replaced disk) is admitted and replaces the stored one', async () => {
    const { node, join, settle, store } = setup()
    const a = await join('a', key('a'))
    const b = await join('b', key('b'))
    // Silent past its allowance: marked down, and a node with a new disk takes the id.
    a.kill()
    await settle(4000)
    expect(status(b.last(), 'a')).toBe('down')
    const replaced = await join('a', key('c'))
    expect(replaced.c.connected).toBe(true)
    expect(status(b.last(), 'a')).toBe('up')
    // The new key is the one that counts now: the old disk's key no longer takes the live id.
    await expect(node('a', key('a')).c.connect()).rejects.toThrow(LIVE_ELSEWHERE)
    const saved = JSON.stringify(await store.load())
    expect(saved).toContain(nodeKeyHash(key('c')))
    expect(saved).not.toContain(key('c')) // only the hash is kept
    // A closed link: the id is free at once.
    b.c.close()
    await settle()
    const newB = await join('b', key('d'))
    expect(newB.c.connected).toBe(true)
    expect(status(newB.last(), 'b')).toBe('up')
  })

  it('a node of an older version (no key) is taken over by any hello, as before keys existed', async () => {
    const { join, settle } = setup()
    const old = await join('o')
    const again = await join('o')
    await settle()
    expect(again.c.connected).toBe(true)
    expect(old.dropped).toEqual(['replaced by a new connection of the same node'])
  })

  it('keeps the key hash across a restart of the service: nobody else takes a live id while its node reconnects', async () => {
    const { node, join, settle, restartService, service } = setup()
    const a = await join('a', key('a'))
    await join('b', key('b'))
    await restartService()
    // a has not reconnected yet (its backoff runs): its id is live for the allowance it has to.
    await expect(node('a', key('f')).c.connect()).rejects.toThrow(LIVE_ELSEWHERE)
    await settle(1000)
    expect(a.c.connected).toBe(true)
    expect(status(a.last(), 'a')).toBe('up')
    expect(service().stats.refused).toBe(1)
  })

  it('a report is a hint: a peer that heartbeats (late, within its allowance) stays up; one that stopped is marked down', async () => {
    const { join, settle, service } = setup()
    const a = await join('a', key('a'))
    const b = await join('b', key('b'))
    // b stalls for two and a half heartbeats (its process was busy) while a's channel to it drops.
    b.stall()
    await settle(2500)
    a.c.report(nodeId('b'))
    await settle()
    expect(status(service().view(), 'b')).toBe('up')
    expect(b.dropped).toEqual([])
    b.unstall()
    await settle(2500)
    expect(status(a.last(), 'b')).toBe('up')
    // Now b's process is gone without its socket closing: it stops heartbeating. Just before
    // the service's own sweep would see it, a's report finds b silent past its allowance.
    b.kill()
    await settle(3500)
    expect(status(service().view(), 'b')).toBe('up')
    const ignored = service().stats.reportsIgnored
    a.c.report(nodeId('b'))
    await settle()
    expect(status(service().view(), 'b')).toBe('down')
    expect(service().stats.reportsIgnored).toBe(ignored)
  })

  it('signals carry the sender the service admitted: a forged `from` is replaced, a refused link signals nobody', async () => {
    const { clock, join, settle, service } = setup()
    const a = await join('a', key('a'))
    const b = await join('b', key('b'))
    const raw = async (name: string, nodeKey: string) => {
      const [n, svc] = localLinkPair()
      service().accept(svc)
      const got: { type: string; reason?: string }[] = []
      n.onMessage((m) => got.push(m as { type: string }))
      const ts = clock.now()
      const nonce = randomNonce()
      n.send({ type: 'hello', clusterId: 'c1', nodeId: name, engines: [], key: nodeKey, ts, nonce, proof: await helloProof(SECRET, 'c1', name, ts, nonce) })
      await settle()
      return { n, got }
    }
    const c = await raw('c', key('c'))
    expect(c.got[0]?.type).toBe('welcome')
    c.n.send({ type: 'signal', to: 'b', from: 'a', data: 'hi' })
    const impostor = await raw('a', key('f'))
    expect(impostor.got).toEqual([{ type: 'refused', reason: expect.stringMatching(LIVE_ELSEWHERE) as unknown as string }])
    impostor.n.send({ type: 'signal', to: 'b', data: 'sneaky' })
    await settle()
    expect(b.signals).toEqual([{ from: 'c', data: 'hi' }])
    expect(a.signals).toEqual([])
  })
})
