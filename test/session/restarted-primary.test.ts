/**
 * A primary that restarts has forgotten its clients. A late copy of a client's first request (it
 * waited in a paused node's inbox) can reach it and start the client again: same primary, same
 * epoch 1, but another line, holding none of the sessions the client was acknowledged before.
 * The backups of the first line hold those sessions, and are then the only copies: when the new
 * line sends one of them its whole copy, or tells it that it now has other backups, the backup
 * must hand the sessions to the new line, not drop them.
 * Engine-level, with the nodes wired to each other in memory, so the order of events is exact.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import type { Request } from '../../src/routing/engine.js'
import { SessionEngine, type SessionReply } from '../../src/session/engine.js'
import type { FailoverToken } from '../../src/session/token.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const VS = 'shop'
const CLIENT = 'ann'
const [a, b, c] = ['a', 'b', 'c'].map(nodeId) as [NodeId, NodeId, NodeId]

/** Session engines on nodes a, b, c (two copies of each client), wired to each other in memory. */
function cluster() {
  const clock = new FakeClock(1_000_000)
  const engines = new Map<NodeId, SessionEngine>()
  /** The nodes that are running, as every view shows them. */
  const up = new Set<NodeId>([a, b, c])
  const others = (self: NodeId) => [...up].filter((n) => n !== self)
  /** Requests lost on the way, as `from>to:method`. */
  const blocked = new Set<string>()
  const call = (from: NodeId, to: NodeId, method: string, body: unknown): Promise<unknown> => {
    const e = engines.get(to)
    if (!e || !up.has(to) || blocked.has(`${from}>${to}:${method}`)) return Promise.reject(Object.assign(new Error(`${to} is down`), { code: 'NOT_CONNECTED' }))
    return Promise.resolve().then(() => e.handle({ fromNode: from, method, body, oneWay: false } as unknown as Request))
  }
  /** Starts (or restarts, empty) the node's session engine. */
  const start = (self: NodeId) => {
    engines.get(self)?.close()
    engines.set(self, new SessionEngine({ self, secret: 'test-secret', clock, replicas: () => 2, upNodes: () => others(self), liveNodes: () => others(self), request: (to, method, body) => call(self, to, method, body) }))
    up.add(self)
  }
  const crash = (self: NodeId) => {
    engines.get(self)?.close()
    engines.delete(self)
    up.delete(self)
  }
  /** A client's request, sent to `via` as the session client would send it. */
  const request = async <T>(via: NodeId, method: string, body: object): Promise<SessionReply<T>> => {
    const r = (await call(via, via, method, { vs: VS, ...body })) as SessionReply<T>
    await flushMicrotasks()
    return r
  }
  for (const n of [a, b, c]) start(n)
  return { engines, up, blocked, start, crash, request, close: () => engines.forEach((e) => e.close()) }
}

let net: ReturnType<typeof cluster> | undefined
afterEach(() => {
  net?.close()
  net = undefined
})

/** The client's session `s1`, acknowledged on `a` with the given node as its only backup. */
async function acknowledgedSession(backup: NodeId): Promise<{ id: string; token: FailoverToken }> {
  net = cluster()
  // Only a and the chosen backup are up when the client starts.
  for (const n of [b, c]) if (n !== backup) net.up.delete(n)
  const r = await net.request<{ sessionId: string }>(a, 'create', { clientId: CLIENT, data: { v: 's1' } })
  expect(r.token).toMatchObject({ primary: a, epoch: 1, backups: [backup] })
  return { id: r.result.sessionId, token: r.token }
}

/** a restarts empty; a late copy of the client's first request makes it start the client again. */
async function restartAndStartAgain(upWhenStarting: NodeId[]): Promise<void> {
  net!.crash(a)
  net!.start(a)
  for (const n of [b, c]) if (upWhenStarting.includes(n)) net!.up.add(n)
  else net!.up.delete(n)
  const again = await net!.request<{ sessionId: string }>(a, 'create', { clientId: CLIENT, data: { v: 'late' } })
  expect(again.token).toMatchObject({ primary: a, epoch: 1, backups: upWhenStarting })
}

describe('a primary that restarted and started the client again at the same epoch', () => {
  it('gets the sessions of the first line from the backup its new line sends its whole copy to', async () => {
    const s1 = await acknowledgedSession(b)
    // a's new line picks b, the backup of the first line, and sends it a whole copy without s1.
    await restartAndStartAgain([b])
    // c joins; whoever reads s1 now must find it.
    net!.up.add(c)
    const read = await net!.request<{ value: unknown }>(a, 'get', { sessionId: s1.id, token: s1.token })
    expect(read.result.value).toEqual({ v: 's1' })
  })

  it('gets the sessions of the first line from a backup it tells it has other backups now', async () => {
    const s1 = await acknowledgedSession(c)
    // c is down while a starts the client again with b; then c comes back with its copy of s1.
    await restartAndStartAgain([b])
    net!.up.add(c)
    // c asks a whether it still leads the client with c as backup (on a view or a sweep).
    await net!.engines.get(c)!.onView()
    await flushMicrotasks()
    const read = await net!.request<{ value: unknown }>(a, 'get', { sessionId: s1.id, token: s1.token })
    expect(read.result.value).toEqual({ v: 's1' })
  })
})

describe('sessions waiting on a backup to be handed to another line', () => {
  it('are kept when a later line takes the copy over too, and go to it with the others', async () => {
    const s1 = await acknowledgedSession(b)
    // a starts the client again with b; b's hand-over of s1 to a's new line is lost, then a dies.
    net!.blocked.add(`${b}>${a}:adopt`)
    await restartAndStartAgain([b])
    net!.crash(a)
    // c starts the client too (another late first request) and sends b its whole copy: b hands
    // it the session of a's second line, and s1 must go along, not be forgotten.
    net!.up.add(c)
    const atC = await net!.request<{ sessionId: string }>(c, 'create', { clientId: CLIENT, data: { v: 'late too' } })
    expect(atC.token).toMatchObject({ primary: c, epoch: 1, backups: [b] })
    const read = await net!.request<{ value: unknown }>(c, 'get', { sessionId: s1.id, token: s1.token })
    expect(read.result.value).toEqual({ v: 's1' })
  })

  it('are served by the node holding them when the line they were sent to is gone from every node', async () => {
    const s1 = await acknowledgedSession(b)
    // c starts the client too (a late first request) but cannot reach a backup yet.
    net!.up.add(c)
    net!.blocked.add(`${c}>${a}:replicate`).add(`${c}>${b}:replicate`)
    void net!.request(c, 'create', { clientId: CLIENT, data: { v: 'late' } }).catch(() => undefined)
    await flushMicrotasks()
    // a dies; b, taking over, finds c's newer line and hands s1 to it, but the hand-over is lost.
    net!.blocked.add(`${b}>${c}:adopt`)
    net!.crash(a)
    await net!.engines.get(b)!.onView()
    await flushMicrotasks()
    expect(net!.engines.get(b)!.handoffsPending).toBe(1)
    // c restarts empty: no node serves the client now, and s1 is only in b's hand-over.
    net!.crash(c)
    net!.start(c)
    net!.blocked.clear()
    for (let i = 0; i < 3; i++) {
      await net!.engines.get(b)!.onView(true)
      await flushMicrotasks()
    }
    // The client's next call, with the token it holds (a at epoch 1), reaches s1.
    const read = await net!.request<{ value: unknown }>(b, 'get', { sessionId: s1.id, token: s1.token })
    expect(read.result.value).toEqual({ v: 's1' })
    expect(read.token).toMatchObject({ primary: b, epoch: 2, backups: [c] })
    expect(net!.engines.get(b)!.handoffsPending).toBe(0)
  })
})
