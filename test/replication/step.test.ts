/**
 * A replica's `step`: a message in, what to send and tell out (a `Ready`), nothing sent by the
 * replica itself. The state manager carries the Ready out; the simulation checks that end to end.
 */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import type { LogEntry } from '../../src/replication/log.js'
import type { OutgoingReplMessage } from '../../src/replication/messages.js'
import { DomainPersistence } from '../../src/persistence/persistence.js'
import { DomainReplica } from '../../src/replication/replica.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const P = 'p' as NodeId
const B = 'b' as NodeId
const Q = 'q' as NodeId
const put = (seq: number, epoch = 2): LogEntry => ({ seq, epoch, vs: 'v', key: `k${seq}`, change: { kind: 'put', value: seq } })

function replica() {
  const clock = new FakeClock(1000)
  /** What went out through the hooks (the replica's own sends: timers, disk, writes). */
  const hooked: [NodeId, OutgoingReplMessage][] = []
  const told: LogEntry[][] = []
  const r = new DomainReplica(new DomainState(0), new DomainPersistence(new MemoryStorage(), 0, 1 << 20), {
    clock,
    writeAcks: 'all',
    writeTimeoutMs: 10_000,
    resendAfterMs: 200,
    retainEntries: 128,
    restEntries: 32,
    hooks: { send: (to, msg) => void hooked.push([to, msg]), committed: (_d, entries) => void told.push([...entries]), applied: () => {}, snapshotSent: () => {}, snapshotInstalled: () => {}, failed: (_d, err) => { throw err }, lagging: () => {}, locked: () => {}, lead: async () => undefined },
  })
  return { clock, r, hooked, told }
}

describe('DomainReplica.step', () => {
  it("a backup answers an older epoch's append from a node it does not follow with a nack it returns, not sends", () => {
    const { r, hooked } = replica()
    r.becomeBackup(3, P, true, 2)
    hooked.length = 0
    const ready = r.step(Q, { type: 'append', domain: 0, epoch: 2, head: 1, commit: 0, entries: [put(1)] })
    expect(ready.sends).toEqual([{ to: Q, msg: { type: 'nack', domain: 0, epoch: 3 } }])
    expect(hooked).toEqual([])
    expect(r.state.lastSeq).toBe(0)
  })

  it('a backup that finds a gap returns its request for what follows its log', () => {
    const { r, hooked } = replica()
    r.becomeBackup(2, P, false, 2) // a healing target: it asks for nothing until entries come
    hooked.length = 0
    const ready = r.step(P, { type: 'append', domain: 0, epoch: 2, head: 3, commit: 0, entries: [put(3)] })
    expect(ready.sends).toContainEqual({ to: P, msg: { type: 'resend', domain: 0, epoch: 2, after: 0, afterEpoch: 0 } })
    expect(r.state.lastSeq).toBe(0)
    expect(hooked).toEqual([])
    r.close()
  })

  it("a backup's ack waits for its disk: it goes out through the hooks once the entries are stored", async () => {
    const { r, hooked, clock } = replica()
    r.becomeBackup(2, P, true, 2)
    hooked.length = 0
    const ready = r.step(P, { type: 'append', domain: 0, epoch: 2, head: 2, commit: 0, entries: [put(1), put(2)] })
    expect(ready.sends).toEqual([])
    expect(r.state.lastSeq).toBe(2)
    await clock.advance(0)
    await flushMicrotasks(50)
    expect(hooked).toContainEqual([P, { type: 'ack', domain: 0, epoch: 2, upTo: 2 }])
    // A probe with nothing new to store: the ack is part of the step.
    const probe = r.step(P, { type: 'append', domain: 0, epoch: 2, head: 2, commit: 2, entries: [] })
    expect(probe.sends).toEqual([{ to: P, msg: { type: 'ack', domain: 0, epoch: 2, upTo: 2 } }])
  })

  it('a primary returns the entries an ack commits; it tells nobody itself', async () => {
    const { r, told, clock } = replica()
    r.becomePrimary(2, [B], [], undefined)
    const written = r.write('v', 'k', { kind: 'put', value: 1 }, undefined)
    await clock.advance(0)
    await flushMicrotasks(50)
    expect(told).toEqual([])
    const ready = r.step(B, { type: 'ack', domain: 0, epoch: 2, upTo: 1 })
    expect(ready.committed.map((e) => e.seq)).toEqual([1])
    expect(ready.sends).toEqual([])
    expect(told).toEqual([])
    await expect(written).resolves.toEqual({ seq: 1, replicas: 2 })
    r.close()
  })

  it("a primary returns the entries a backup asks for, or a nack to an older epoch's primary", async () => {
    const { r, clock } = replica()
    r.becomePrimary(2, [B], [], undefined)
    void r.write('v', 'a', { kind: 'put', value: 1 }, undefined).catch(() => {})
    void r.write('v', 'b', { kind: 'put', value: 2 }, undefined).catch(() => {})
    await clock.advance(0)
    const resend = r.step(B, { type: 'resend', domain: 0, epoch: 2, after: 1, afterEpoch: 2 })
    expect(resend.sends).toHaveLength(1)
    expect(resend.sends[0]!.to).toBe(B)
    expect(resend.sends[0]!.msg).toMatchObject({ type: 'append', epoch: 2, entries: [{ seq: 2, key: 'b' }] })
    const stale = r.step(P, { type: 'append', domain: 0, epoch: 1, head: 0, commit: 0, entries: [] })
    expect(stale.sends).toEqual([{ to: P, msg: { type: 'nack', domain: 0, epoch: 2 } }])
    r.close()
  })
})
