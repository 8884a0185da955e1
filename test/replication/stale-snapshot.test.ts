/**
 * A snapshot that arrives after newer entries of the same history (a healing copy resent while
 * the target's ack was on its way) must not take acknowledged entries back out of the copy.
 */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import type { LogEntry } from '../../src/replication/log.js'
import { SnapshotSchema, type OutgoingReplMessage, type ReplMessage } from '../../src/replication/messages.js'
import { encodeSnapshotNow } from '../../src/persistence/snapshot-encoder.js'
import { parse } from '../../src/util/schema.js'
import { DomainPersistence } from '../../src/persistence/persistence.js'
import { DomainReplica } from '../../src/replication/replica.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const P = 'p' as NodeId
/** The snapshot message a copy sends, as the receiver takes it off the wire. */
const snapshotMsg = (state: DomainState): ReplMessage => ({ type: 'snapshot', ...parse(SnapshotSchema, { domain: 0, epoch: 1, snapshot: encodeSnapshotNow(state) }) })
const put = (seq: number): LogEntry => ({ seq, epoch: 1, vs: 'v', key: `k${seq}`, change: { kind: 'put', value: seq } })

describe('a backup and a late snapshot', () => {
  it('keeps the newer entries it holds when an older snapshot of the same history arrives', async () => {
    const clock = new FakeClock(1000)
    const sent: [NodeId, OutgoingReplMessage][] = []
    const r = new DomainReplica(new DomainState(0), new DomainPersistence(new MemoryStorage(), 0, 1 << 20), {
      clock,
      writeAcks: 'all',
      writeTimeoutMs: 10_000,
      resendAfterMs: 200,
      retainEntries: 128,
      restEntries: 32,
      hooks: { send: (to, msg) => void sent.push([to, msg]), committed: () => {}, applied: () => {}, snapshotSent: () => {}, snapshotInstalled: () => {}, failed: (_d, err) => { throw err }, lagging: () => {}, locked: () => {}, lead: async () => undefined },
    })
    r.becomeBackup(1, P, true, 2)
    // The snapshot the copy took at seq 3, then the entries written meanwhile.
    const old = new DomainState(0)
    for (let s = 1; s <= 3; s++) old.apply(put(s))
    r.deliver(r.step(P, snapshotMsg(old)))
    r.deliver(r.step(P, { type: 'append', domain: 0, epoch: 1, head: 5, commit: 3, entries: [put(4), put(5)] }))
    await flushMicrotasks(50)
    expect(r.state.lastSeq).toBe(5)
    // The copy's resend of the same snapshot, after the target's ack of 5 was already on its way.
    r.deliver(r.step(P, snapshotMsg(old)))
    await flushMicrotasks(50)
    expect(r.state.lastSeq).toBe(5)
    expect(r.state.get('v', 'k5')?.value).toBe(5)
    const acks = sent.filter(([, m]) => m.type === 'ack').map(([, m]) => (m as { upTo: number }).upTo)
    expect(Math.min(...acks.slice(-1))).toBe(5)
  })
})
