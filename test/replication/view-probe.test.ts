/**
 * A primary probes its backups after a view change (an append without entries: a laggard asks for
 * what it lacks), but not when the view only moved the epoch and every backup has acked all: during
 * a healing every finished copy publishes a view, and each probe burst hit the writes in flight.
 */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import type { OutgoingReplMessage } from '../../src/replication/messages.js'
import { DomainPersistence } from '../../src/persistence/persistence.js'
import { DomainReplica } from '../../src/replication/replica.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { FakeClock } from '../../src/util/clock.js'

const B = 'b' as NodeId
const C = 'c' as NodeId

function primary() {
  const clock = new FakeClock(1000)
  const sent: [NodeId, OutgoingReplMessage][] = []
  const r = new DomainReplica(new DomainState(3), new DomainPersistence(new MemoryStorage(), 3, 1 << 20), {
    clock,
    writeAcks: 'all',
    writeTimeoutMs: 10_000,
    resendAfterMs: 200,
    retainEntries: 128, restEntries: 32,
    hooks: { send: (to, msg) => void sent.push([to, msg]), committed: () => {}, applied: () => {}, snapshotSent: () => {}, snapshotInstalled: () => {}, failed: (_d, err) => { throw err }, lagging: () => {}, locked: () => {}, lead: async () => undefined },
  })
  const probes = () => sent.filter(([, m]) => m.type === 'append' && m.entries.length === 0).map(([to, m]) => [to, m.epoch])
  return { clock, sent, r, probes }
}

describe('view-change probes', () => {
  it('go out when the replica becomes primary or its backups change, not when only the epoch moves', async () => {
    const { clock, sent, r, probes } = primary()
    r.becomePrimary(5, [B], [], undefined)
    await clock.advance(0) // appends leave in a microtask
    expect(probes()).toEqual([[B, 5]])
    const written = r.write('v', 'k', { kind: 'put', value: 1 }, undefined)
    await clock.advance(1)
    r.deliver(r.step(B, { type: 'ack', domain: 3, epoch: 5, upTo: 1 }))
    await written
    sent.length = 0
    r.becomePrimary(6, [B], [], undefined) // a copy elsewhere finished: same backups, all acked
    await clock.advance(0) // appends leave in a microtask
    expect(probes()).toEqual([])
    r.becomePrimary(7, [B, C], [], undefined) // a healed copy joins
    await clock.advance(0) // appends leave in a microtask
    expect(probes()).toEqual([[B, 7], [C, 7]])
    sent.length = 0
    r.becomePrimary(8, [B], [C], undefined) // an owner goes down
    await clock.advance(0) // appends leave in a microtask
    expect(probes()).toEqual([[B, 8]])
  })

  it('still go out to a backup that has not acked everything', async () => {
    const { clock, sent, r, probes } = primary()
    r.becomePrimary(5, [B], [], undefined)
    void r.write('v', 'k', { kind: 'put', value: 1 }, undefined).catch(() => {})
    await clock.advance(1)
    sent.length = 0
    r.becomePrimary(6, [B], [], undefined) // B has not acked seq 1
    await clock.advance(0) // appends leave in a microtask
    expect(probes()).toEqual([[B, 6]])
    r.close()
  })
})
