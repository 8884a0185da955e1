/** A backup's intake: strict seq order, gaps asked for again, a disagreeing log answered by a snapshot request. */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import { Intake } from '../../src/replication/intake.js'
import type { LogEntry } from '../../src/replication/log.js'
import { FakeClock } from '../../src/util/clock.js'

const P = 'p' as NodeId
const put = (seq: number, key = `k${seq}`): LogEntry => ({ seq, epoch: 1, vs: 'v', key, change: { kind: 'put', value: seq } })
const patchMissing = (seq: number): LogEntry => ({ seq, epoch: 1, vs: 'v', key: 'nowhere', change: { kind: 'patch', patches: [{ op: 'replace', path: ['x'], value: 1 }] } })

function setup() {
  const clock = new FakeClock()
  const box = { state: new DomainState(0) }
  const persisted: number[] = []
  const asks: string[] = []
  const failures: unknown[] = []
  const intake = new Intake(
    { state: () => box.state, persist: (e) => persisted.push(e.seq), ask: (to, after, _e, snapshot) => asks.push(`${to}:${after}${snapshot ? ':snapshot' : ''}`), following: () => P, failed: (err) => failures.push(err) },
    clock,
    100,
  )
  return { clock, box, persisted, asks, failures, intake }
}

describe('backup intake', () => {
  it('applies entries in seq order, holding the ones that come early', () => {
    const t = setup()
    t.intake.receive(P, [put(2), put(3)], 3)
    expect(t.box.state.lastSeq).toBe(0)
    expect(t.asks).toEqual(['p:0']) // 1 is missing
    t.intake.receive(P, [put(1)], 3)
    expect(t.box.state.lastSeq).toBe(3)
    expect(t.persisted).toEqual([1, 2, 3])
  })

  it('asks again every interval while the gap stays open, and stops once it closes', async () => {
    const t = setup()
    t.intake.receive(P, [put(2)], 2)
    await t.clock.advance(250)
    expect(t.asks).toEqual(['p:0', 'p:0', 'p:0'])
    t.intake.receive(P, [put(1)], 2)
    await t.clock.advance(500)
    expect(t.asks).toHaveLength(3)
  })

  it('asks for a snapshot when an entry does not apply to our copy', () => {
    const t = setup()
    t.intake.receive(P, [put(1), patchMissing(2), put(3)], 3)
    expect(t.box.state.lastSeq).toBe(1)
    expect(t.failures).toHaveLength(1)
    expect(t.asks).toContain('p:1:snapshot')
  })

  it('drops what a snapshot covers and applies what follows it', () => {
    const t = setup()
    t.intake.receive(P, [put(5), put(6)], 6)
    const snap = new DomainState(0)
    for (let s = 1; s <= 5; s++) snap.apply(put(s))
    t.box.state = DomainState.fromSnapshot(0, snap.snapshot())
    t.intake.snapshotInstalled(P, 5)
    expect(t.box.state.lastSeq).toBe(6)
    expect(t.persisted).toEqual([6])
  })
})

describe('backup intake across a change of primary', () => {
  it('drops entries held back from the old primary once the new one sends', () => {
    const t = setup()
    const Q = 'q' as NodeId
    // The old primary's 3 came early (2 was lost): it waits.
    t.intake.receive(P, [put(1), put(3, 'old-only')], 3)
    expect(t.box.state.lastSeq).toBe(1)
    // The new primary's log has no 3 of that kind: its 2 fills the gap, and the old 3 must not follow.
    t.intake.receive(Q, [put(2)], 2)
    expect(t.box.state.lastSeq).toBe(2)
    expect(t.box.state.get('v', 'old-only')).toBeUndefined()
    t.intake.receive(Q, [put(3)], 3)
    expect(t.box.state.get('v', 'k3')?.value).toBe(3)
  })

  it('a log that disagrees with the primary (another epoch at a seq we hold) asks for a snapshot and says so', () => {
    const t = setup()
    expect(t.intake.receive(P, [put(1), put(2), put(3)], 3)).toBe(true)
    // A new primary wrote seq 3 under epoch 2: our seq 3 (epoch 1) was never committed.
    expect(t.intake.receive(P, [{ ...put(3, 'other'), epoch: 2 }], 3)).toBe(false)
    expect(t.asks.at(-1)).toBe('p:3:snapshot')
    expect(t.box.state.get('v', 'other')).toBeUndefined()
    // Entries we hold under the same epoch are simply ours already.
    expect(t.intake.receive(P, [put(2), put(3), put(4)], 4)).toBe(true)
    expect(t.box.state.lastSeq).toBe(4)
  })
})
