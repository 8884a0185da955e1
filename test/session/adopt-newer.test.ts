/**
 * Sessions handed to a line's primary can reach it in more than one hand-over, and not newest
 * first. Seen in the simulation (seed 11139): a backup paused through a session's create got only
 * the primary's late first copy of it (version 1); when a new line took its copy over, it handed
 * that version on, and the new primary adopted it. The backups that had the acknowledged patch
 * (version 2) handed it over a moment later, and the primary kept its own version 1: the client
 * then read the value from before its acknowledged patch.
 * Engine-level, over a scripted network that accepts every write, so the order of events is exact.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import type { Request } from '../../src/routing/engine.js'
import { SessionEngine, type SessionReply } from '../../src/session/engine.js'
import { FakeClock } from '../../src/util/clock.js'

const VS = 'shop'
const CLIENT = 'ann'
const [a, b, c] = ['a', 'b', 'c'].map(nodeId) as [NodeId, NodeId, NodeId]

let engine: SessionEngine | undefined
afterEach(() => {
  engine?.close()
  engine = undefined
})

/** Node `a`'s session engine; `b` and `c` are up, follow no other line and take every write. */
function nodeA() {
  const clock = new FakeClock(1_000_000)
  const e = new SessionEngine({
    self: a,
    secret: 'test-secret',
    clock,
    replicas: () => 3,
    upNodes: () => [b, c],
    liveNodes: () => [b, c],
    request: (_to, method) => Promise.resolve(method === 'probe' ? {} : { ok: true }),
  })
  engine = e
  const call = <T>(method: string, body: object) => e.handle({ fromNode: b, method, body: { vs: VS, ...body }, oneWay: false } as unknown as Request) as Promise<T>
  return { call }
}

const record = (sessionId: string, v: string, version: number) => ({ sessionId, clientId: CLIENT, vs: VS, value: { v }, version, ttlMs: 60_000, expiresAt: 2_000_000 })

describe('a primary adopting handed-over sessions', () => {
  it('takes a newer version of a session it already adopted at an older one', async () => {
    const n = nodeA()
    // a leads the client (its first request started the line here).
    const created = await n.call<SessionReply>('create', { clientId: CLIENT, data: { v: 'mine' } })
    // A stale copy of the session s1 arrives first, the acknowledged patch on it second.
    await n.call('adopt', { clientId: CLIENT, put: [record('s1', 'created', 1)] })
    await n.call('adopt', { clientId: CLIENT, put: [record('s1', 'patched', 2)] })
    const read = await n.call<SessionReply<{ value: unknown; version: number }>>('get', { sessionId: 's1', token: created.token })
    expect(read.result).toEqual({ value: { v: 'patched' }, version: 2 })
  })

  it('keeps its own copy when a hand-over brings an older version', async () => {
    const n = nodeA()
    const created = await n.call<SessionReply>('create', { clientId: CLIENT, data: { v: 'mine' } })
    await n.call('adopt', { clientId: CLIENT, put: [record('s1', 'patched', 2)] })
    await n.call('adopt', { clientId: CLIENT, put: [record('s1', 'created', 1)] })
    const read = await n.call<SessionReply<{ value: unknown; version: number }>>('get', { sessionId: 's1', token: created.token })
    expect(read.result).toEqual({ value: { v: 'patched' }, version: 2 })
  })
})
