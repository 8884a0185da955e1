import { afterEach, describe, expect, it } from 'vitest'
import { NoRouteError, RemoteError, TimeoutError } from '../../src/errors.js'
import { clusterId, engineId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { parseAddress } from '../../src/routing/address.js'
import type { MemberInfo } from '../../src/routing/engine.js'
import { DuplicateEngineError } from '../../src/routing/router.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'
import { CLUSTER, echoEngine, memoryCluster } from '../helpers/cluster.js'
import { StaticDirectory } from '../../src/node/static-directory.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'

let nodes: MeshNode[] = []
afterEach(async () => {
  for (const n of nodes) await n.close()
  nodes = []
})

async function threeNodes() {
  const c = await memoryCluster(['a', 'b', 'c'])
  nodes = c.nodes
  const [a, b, cc] = c.nodes as [MeshNode, MeshNode, MeshNode]
  a.registerEngine(echoEngine('e1', ['shop']))
  b.registerEngine(echoEngine('e2', ['shop', 'blog']))
  cc.registerEngine(echoEngine('other', '*', 'other'))
  c.refresh()
  return { ...c, a, b, c: cc, refresh: () => c.refresh() }
}

const noRoutePart = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(NoRouteError)
  return (err as NoRouteError).part
}

describe('router', () => {
  it('delivers to the exact engine named, local or remote', async () => {
    const { a, b } = await threeNodes()
    const from = a.address('client')
    expect(await a.request(from, parseAddress('test/a/e1'), 'hi', 1)).toEqual({ echoed: 1, by: 'e1', method: 'hi' })
    expect(await a.request(from, parseAddress('test/b/e2@blog'), 'hi', 2)).toEqual({ echoed: 2, by: 'e2', method: 'hi' })
    expect(b.metrics().requestsServed).toBe(1)
  })

  it('sends a partial address to a local engine first, else to a member that has one', async () => {
    const { a, c } = await threeNodes()
    const shop = parseAddress('test/*/echo@shop')
    expect(await a.request(a.address('x'), shop, 'm', 0)).toMatchObject({ by: 'e1' })
    expect(await c.request(c.address('x'), parseAddress('test/*/echo@blog'), 'm', 0)).toMatchObject({ by: 'e2' })
    expect(await a.request(a.address('x'), parseAddress('test/*/other'), 'm', 0)).toMatchObject({ by: 'other' })
  })

  it('names the part of the address that matched nothing', async () => {
    const { a } = await threeNodes()
    const from = a.address('x')
    expect(await noRoutePart(a.request(from, parseAddress('elsewhere/a/e1'), 'm', 0))).toBe('cluster')
    expect(await noRoutePart(a.request(from, parseAddress('test/zz/e1'), 'm', 0))).toBe('node')
    expect(await noRoutePart(a.request(from, parseAddress('test/a/nope'), 'm', 0))).toBe('engine')
    expect(await noRoutePart(a.request(from, parseAddress('test/b/nope'), 'm', 0))).toBe('engine')
    expect(await noRoutePart(a.request(from, parseAddress('test/a/e1@blog'), 'm', 0))).toBe('virtualServer')
    expect(await noRoutePart(a.request(from, parseAddress('test/*/echo@nowhere'), 'm', 0))).toBe('virtualServer')
    expect(await noRoutePart(a.request(from, parseAddress('test/*/nosuchtype'), 'm', 0))).toBe('engineType')
  })

  it('returns a remote engine failure as an error with the same name and message', async () => {
    const { a } = await threeNodes()
    const err = await a.request(a.address('x'), parseAddress('test/b/e2'), 'fail', { why: 'test' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect((err as RemoteError).name).toBe('RangeError')
    expect((err as RemoteError).message).toBe('asked to fail: {"why":"test"}')
  })

  it('a one-way message whose handler throws or rejects is reported as handler-error, here and remote', async () => {
    const { a, b, refresh } = await threeNodes()
    const rejecting = { ...echoEngine('slow'), handle: (req: { method: string }) => Promise.reject(new RangeError(`later: ${req.method}`)) }
    b.registerEngine(rejecting)
    a.registerEngine({ ...echoEngine('slow'), handle: rejecting.handle })
    refresh()
    const seen: string[] = []
    for (const n of [a, b]) n.messenger.events.on('handler-error', ({ method, error }) => seen.push(`${n.nodeId} ${method} ${(error as Error).message}`))
    const to = (node: string, engine: string) => parseAddress(`test/${node}/${engine}`)
    a.messenger.notify(a.address('x'), to('b', 'e2'), 'fail', 1) // throws at once, on b
    a.messenger.notify(a.address('x'), to('b', 'slow'), 'm', 2) // rejects, on b
    a.messenger.notify(a.address('x'), to('a', 'slow'), 'local', 3) // rejects, here
    await flushMicrotasks()
    expect(seen.sort()).toEqual(['a local later: local', 'b fail asked to fail: 1', 'b m later: m'])
  })

  it('refuses two engines with one id on a node', async () => {
    const { a } = await threeNodes()
    expect(() => a.registerEngine(echoEngine('e1'))).toThrow(DuplicateEngineError)
  })

  it('coalesces every envelope for one peer in a tick into one frame', async () => {
    const { a, b } = await threeNodes()
    const before = a.metrics().framesOut
    const calls = Array.from({ length: 50 }, (_, i) => a.request(a.address('x'), parseAddress('test/b/e2'), 'm', i))
    await Promise.all(calls)
    expect(a.metrics().framesOut - before).toBe(1)
    expect(b.metrics().framesOut).toBe(1)
  })

  it('a call the application starts leaves at once; what incoming frames cause waits for the end of their I/O phase', async () => {
    // defer() as in Node: after the current I/O phase, which this test ends by hand.
    const phaseEnd: (() => void)[] = []
    const clock = Object.assign(new FakeClock(), { defer: (fn: () => void) => void phaseEnd.push(fn) })
    const endPhase = async () => {
      while (phaseEnd.length) phaseEnd.splice(0).forEach((fn) => fn())
      await flushMicrotasks()
    }
    const c = await memoryCluster(['a', 'b'], { clock })
    nodes = c.nodes
    const [a, b] = c.nodes as [MeshNode, MeshNode]
    const sink = echoEngine('sink')
    a.registerEngine(sink)
    b.registerEngine(echoEngine('sink'))
    c.refresh()
    await endPhase()
    const toB = parseAddress('test/b/sink')
    const before = a.metrics().framesOut
    a.messenger.notify(a.address('x'), toB, 'm', 'background')
    await flushMicrotasks()
    expect(a.metrics().framesOut - before).toBe(0) // a timer's send: batched until the phase ends
    await endPhase()
    expect(a.metrics().framesOut - before).toBe(1)
    a.messenger.expedite()
    for (let i = 0; i < 3; i++) a.messenger.notify(a.address('x'), toB, 'm', i)
    await flushMicrotasks()
    expect(a.metrics().framesOut - before).toBe(2) // out without the phase ending, all three in one frame
    expect(b.metrics().framesIn).toBe(2)
    // b is handling a frame in this phase: its calls wait, to share a frame with the answers.
    const bBefore = b.metrics().framesOut
    b.messenger.expedite()
    b.messenger.notify(b.address('x'), parseAddress('test/a/sink'), 'm', 'reply')
    await flushMicrotasks()
    expect(b.metrics().framesOut - bBefore).toBe(0)
    await endPhase()
    expect(b.metrics().framesOut - bBefore).toBe(1)
    expect(sink.calls).toContain('reply')
    await endPhase() // the phase in which b's reply reached a
    const burst = a.metrics().framesOut
    // A burst of calls in one phase: the first frame left at once, the rest share one at its end
    // (a writer issuing many changes per turn sent a frame for every chain of microtasks).
    for (let i = 0; i < 3; i++) {
      a.messenger.expedite()
      a.messenger.notify(a.address('x'), toB, 'm', `burst ${i}`)
      await flushMicrotasks()
    }
    expect(a.metrics().framesOut - burst).toBe(1)
    await endPhase()
    expect(a.metrics().framesOut - burst).toBe(2)
  })

  it("what a phase's frames cause leaves before the work their handlers put after that phase", async () => {
    // As a relaying primary: its handler starts the group commit with defer(), and its append to
    // the third node is queued a microtask later (outflow.ts). The append must not wait behind it.
    const phaseEnd: (() => void)[] = []
    const clock = Object.assign(new FakeClock(), { defer: (fn: () => void) => void phaseEnd.push(fn) })
    const endPhase = async () => {
      while (phaseEnd.length) {
        phaseEnd.shift()!()
        await flushMicrotasks()
      }
    }
    const c = await memoryCluster(['a', 'b', 'c'], { clock })
    nodes = c.nodes
    const [a, b, cc] = c.nodes as [MeshNode, MeshNode, MeshNode]
    const sentWhenDeferredWorkRan: number[] = []
    b.registerEngine({
      ...echoEngine('relay'),
      handle: () => {
        clock.defer(() => void sentWhenDeferredWorkRan.push(b.metrics().framesOut))
        queueMicrotask(() => b.messenger.notify(b.address('relay'), parseAddress('test/c/sink'), 'copy', 1))
      },
    })
    const sink = echoEngine('sink')
    cc.registerEngine(sink)
    c.refresh()
    await endPhase()
    const before = b.metrics().framesOut
    a.messenger.notify(a.address('x'), parseAddress('test/b/relay'), 'write', 1)
    await flushMicrotasks()
    await endPhase()
    expect(sentWhenDeferredWorkRan).toEqual([before + 1])
    expect(sink.calls).toEqual([1])
  })

  it('one-way messages of a tick with the same sender, receiver and method travel as one envelope, in order', async () => {
    const { a, b, refresh } = await threeNodes()
    const sink = echoEngine('sink')
    b.registerEngine(sink)
    refresh()
    const before = a.metrics().envelopesOut
    for (let i = 0; i < 30; i++) a.messenger.notify(a.address('x'), parseAddress('test/b/sink'), 'm', i)
    a.messenger.notify(a.address('x'), parseAddress('test/b/sink'), 'other', 'alone')
    await flushMicrotasks()
    expect(sink.calls).toEqual([...Array.from({ length: 30 }, (_, i) => i), 'alone'])
    expect(a.metrics().envelopesOut - before).toBe(2) // one group of 30, one plain message
    expect(b.metrics().envelopesIn).toBe(2)
  })

  it('fails waiting requests at once when the peer goes down, and by timeout when it is silent', async () => {
    const { a, net, refresh } = await threeNodes()
    const slow = echoEngine('slow')
    slow.handle = () => new Promise(() => {})
    nodes[1]!.registerEngine(slow)
    refresh()
    const dest = { clusterId: clusterId('test'), nodeId: nodeId('b'), engineId: engineId('slow') }
    const timedOut = a.request(a.address('x'), dest, 'm', 0, 1000)
    await flushMicrotasks()
    await (net.clock as FakeClock).advance(1000)
    await expect(timedOut).rejects.toThrow(TimeoutError)
    const dropped = a.request(a.address('x'), dest, 'm', 0, 60_000)
    await flushMicrotasks()
    net.crash(nodeId('b'))
    await expect(dropped).rejects.toThrow(/went down/)
    // It had left: the error says so, for callers that must not send a write twice.
    await expect(dropped).rejects.toMatchObject({ code: 'NOT_CONNECTED', details: { sent: true } })
  })

  it('a request failed before it left is never sent: not when its link comes back before the flush either', async () => {
    const { a, b, net, refresh } = await threeNodes()
    const sink = echoEngine('sink')
    b.registerEngine(sink)
    refresh()
    const dest = { clusterId: clusterId('test'), nodeId: nodeId('b'), engineId: engineId('sink') }
    const req = a.request(a.address('x'), dest, 'm', 'once', 60_000).then(() => undefined, (e: unknown) => e)
    // Still in the outbox: the link drops and comes back within the same turn.
    net.partition([nodeId('a')], [nodeId('b')])
    net.heal()
    expect(await req).toMatchObject({ code: 'NOT_CONNECTED', details: { sent: false } })
    await flushMicrotasks()
    expect(sink.calls).toEqual([])
  })
})

describe('duplicated frames', () => {
  it('a request delivered twice runs once', async () => {
    const c = await memoryCluster(['a', 'b'], { faults: { duplicate: 1 } })
    nodes = c.nodes
    const [a, b] = c.nodes as [MeshNode, MeshNode]
    const echo = echoEngine('e')
    b.registerEngine(echo)
    c.refresh()
    for (let i = 0; i < 20; i++) await a.request(a.address('x'), parseAddress('test/b/e'), 'm', i)
    await new Promise((r) => setTimeout(r, 10))
    expect(echo.calls).toEqual([...Array(20).keys()])
    expect(b.metrics().duplicates).toBe(20)
  })

  /** Nodes a and b on one network; `a` starts its request ids at `firstRequestId`. */
  async function pair(a: { firstRequestId: number }) {
    const net = new MemoryNetwork({ seed: 3 })
    const directory = new StaticDirectory()
    const start = (name: string, firstRequestId?: number) =>
      new MeshNode({ clusterId: CLUSTER, nodeId: nodeId(name), transport: net.createTransport(), storage: new MemoryStorage(), clock: net.clock, directory, ...(firstRequestId !== undefined ? { firstRequestId } : {}) }).start()
    const b = await start('b')
    const echo = echoEngine('e')
    b.registerEngine(echo)
    const nodeA = await start('a', a.firstRequestId)
    nodes.push(b, nodeA)
    const refresh = (...ns: MeshNode[]) => directory.set(ns.map((n): MemberInfo => ({ nodeId: n.nodeId, status: 'up', engines: n.engines() })))
    refresh(nodeA, b)
    await flushMicrotasks()
    return { net, b, echo, a: nodeA, start, refresh }
  }

  it("a restarted peer's duplicated request runs once, also when a stopped node hears its past life first and it now counts from lower ids (sim seed 194)", async () => {
    const { net, b, echo, a, start, refresh } = await pair({ firstRequestId: 2 ** 47 })
    const dest = parseAddress('test/b/e')
    // b is stopped (SIGSTOP): what a sends waits for it.
    net.pause(nodeId('b'))
    void a.request(a.address('x'), dest, 'm', 'past life', 60_000).catch(() => undefined)
    await flushMicrotasks()
    // a dies and comes back, its new life counting from below its past one; every frame now arrives twice.
    net.crash(nodeId('a'))
    const again = await start('a', 2 ** 40)
    nodes.push(again)
    refresh(again, b)
    await flushMicrotasks()
    net.setFaults({ duplicate: 1 })
    const answer = again.request(again.address('x'), dest, 'm', 'new life', 60_000)
    await flushMicrotasks()
    // b goes on. The past life's request died with its link (the network, like WebRTC, carries
    // nothing into a peer's next life), and the new life's, duplicated, runs once. The window's
    // handling of two lives heard in any order is replay-window.test.ts's.
    net.resume(nodeId('b'))
    await expect(answer).resolves.toMatchObject({ echoed: 'new life' })
    await flushMicrotasks()
    expect(echo.calls).toEqual(['new life'])
  })

  it('a copy of a request that arrives after its link dropped and came back still runs only once', async () => {
    const { net, echo, a } = await pair({ firstRequestId: 2 ** 40 })
    const dest = parseAddress('test/b/e')
    net.setFaults({ duplicate: 1 })
    // The second copy is held on its way (a delayed frame), while the link drops and comes back.
    let copies = 0
    net.setTap((from) => (from === nodeId('a') && ++copies === 2 ? 'hold' : 'deliver'))
    await expect(a.request(a.address('x'), dest, 'm', 'once', 60_000)).resolves.toMatchObject({ echoed: 'once' })
    net.setFaults({})
    net.partition([nodeId('a')], [nodeId('b')])
    net.heal()
    await flushMicrotasks()
    net.release(nodeId('a'), nodeId('b'))
    await flushMicrotasks()
    expect(copies).toBe(2)
    expect(echo.calls).toEqual(['once'])
  })
})

describe('request ids', () => {
  it('a restarted node does not reuse its past request ids (a late answer cannot be taken for a new one)', async () => {
    const c = await memoryCluster(['a', 'b'])
    nodes = c.nodes
    const idOf = (n: MeshNode) => (n.messenger as unknown as { nextId: number }).nextId
    const first = idOf(c.nodes[0]!)
    const again = await memoryCluster(['a2'])
    nodes.push(...again.nodes)
    expect(Math.abs(idOf(again.nodes[0]!) - first)).toBeGreaterThan(1_000_000)
  })
})
