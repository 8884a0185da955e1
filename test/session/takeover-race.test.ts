/**
 * A backup that starts to take a client over asks every up node first whether it follows a newer
 * primary, and that probe can take long (a node that does not answer holds it for its timeout,
 * a pause of the backup itself for longer). Meanwhile the copy the takeover started from can be
 * dropped and replaced by another: the old primary came back empty and started the client again
 * (same primary, same epoch, another line), with a session the client was acknowledged. The
 * takeover must not then go on from the copy it started with: it would serve the client without
 * the new session and send its backups a whole copy that drops it.
 * Engine-level, with the probe held by the test, so the order of events is exact.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import type { Request } from '../../src/routing/engine.js'
import { SessionEngine } from '../../src/session/engine.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const VS = 'shop'
const CLIENT = 'ann'
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId]

interface Sent {
  to: NodeId
  method: string
  body: Record<string, unknown>
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  return { promise: new Promise<T>((r) => (resolve = r)), resolve }
}

let engine: SessionEngine | undefined
afterEach(() => {
  engine?.close()
  engine = undefined
})

/** Node `a`'s session engine over a scripted network: the test says who is up and what they answer. */
function nodeA() {
  const clock = new FakeClock(1_000_000)
  const up = new Set<NodeId>([b, c, d])
  const sent: Sent[] = []
  const probes: { to: NodeId; answer: (v: unknown) => void }[] = []
  const e = new SessionEngine({
    self: a,
    secret: 'test-secret',
    clock,
    replicas: () => 3,
    upNodes: () => [...up],
    liveNodes: () => [...up],
    request: (to, method, body) => {
      sent.push({ to, method, body: body as Record<string, unknown> })
      if (method === 'probe') {
        const p = deferred<unknown>()
        probes.push({ to, answer: p.resolve })
        return p.promise
      }
      if (method === 'leads') return Promise.resolve({ answers: (body as { clients: unknown[] }).clients.map(() => 'other-backups') })
      return Promise.resolve({ ok: true })
    },
  })
  engine = e
  const receive = (from: NodeId, method: string, body: unknown) => e.handle({ fromNode: from, method, body, oneWay: false } as unknown as Request)
  return { engine: e, up, sent, probes, receive }
}

const record = (sessionId: string, v: string) => ({ sessionId, clientId: CLIENT, vs: VS, value: { v }, version: 1, ttlMs: 60_000, expiresAt: 2_000_000 })

describe('a takeover whose copy is replaced while it probes', () => {
  it('gives up instead of serving the client from the copy it started with', async () => {
    const n = nodeA()
    // a backs the client up for b (line one, session s-old).
    n.receive(b, 'replicate', { vs: VS, clientId: CLIENT, epoch: 1, backups: [c, a], full: true, put: [record('s-old', 'old')], remove: [], copy: { line: 'line-one', rev: 1 } })
    // b and c go down; a is the first backup up, and starts to take over: its probe to d hangs.
    n.up.delete(b)
    n.up.delete(c)
    const view = n.engine.onView()
    await flushMicrotasks()
    expect(n.probes.map((p) => p.to)).toEqual([d])
    // b comes back empty and starts the client again, with other backups: a's copy goes...
    n.up.add(b)
    await n.engine.onView(true)
    expect(n.engine.table.client(VS, CLIENT)).toBeUndefined()
    // ...and b's new line makes a its backup again, with the session the client was acknowledged.
    n.receive(b, 'replicate', { vs: VS, clientId: CLIENT, epoch: 1, backups: [d, a], full: true, put: [record('s-new', 'new')], remove: [], copy: { line: 'line-two', rev: 2 } })
    // Now d answers the probe: it follows b at epoch 1 too (line two), nothing newer.
    n.probes[0]!.answer({ primary: b, epoch: 1, backups: [d, a], copy: { line: 'line-two', rev: 2 } })
    await view
    await flushMicrotasks()
    // a still holds the client's session, and no whole copy it sent leaves it out.
    expect(n.engine.table.sessionsOf(VS, CLIENT).map((r) => r.sessionId)).toEqual(['s-new'])
    const whole = n.sent.filter((s) => s.method === 'replicate' && s.body.full === true)
    for (const s of whole) expect((s.body.put as { sessionId: string }[]).map((r) => r.sessionId)).toContain('s-new')
    expect(n.engine.table.client(VS, CLIENT)).toMatchObject({ role: 'backup', primary: b, epoch: 1 })
  })
})
