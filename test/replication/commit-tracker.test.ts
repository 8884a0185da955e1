/** Writes waiting for their commit: each times out on its own deadline, none is left hanging. */
import { describe, expect, it } from 'vitest'
import { CommitTracker, OutcomeUnknownError } from '../../src/replication/commit-tracker.js'
import { FakeClock } from '../../src/util/clock.js'
import { StaleEpochError } from '../../src/errors.js'

/** A write taken by the primary that fails is of unknown outcome, whatever ended its wait (the cause). */
const settled = (p: Promise<unknown>) => p.then((r) => ({ ok: r }), (e: unknown) => ({ err: (e as Error).name, ...((e as Error).cause ? { cause: ((e as Error).cause as Error).name } : {}) }))

describe('commit tracker', () => {
  it('times each waiting write out at its own deadline, and a committed one not at all', async () => {
    const clock = new FakeClock()
    const t = new CommitTracker(0, clock, 1000)
    const results: Record<number, unknown> = {}
    const track = (seq: number) => void settled(t.wait(seq, 1)).then((r) => (results[seq] = r))
    track(1)
    await clock.advance(300)
    track(2)
    await clock.advance(300)
    track(3)
    t.commit(1, () => true, () => 3)
    await clock.advance(699) // 1299: write 1's deadline passed, but it was committed
    expect(results).toEqual({ 1: { ok: { seq: 1, replicas: 3 } } })
    await clock.advance(1) // write 2's deadline: 300 + 1000
    expect(results[2]).toEqual({ err: 'OutcomeUnknownError', cause: 'TimeoutError' })
    expect(results[3]).toBeUndefined()
    await clock.advance(299)
    expect(results[3]).toBeUndefined()
    await clock.advance(1) // write 3's: 600 + 1000
    expect(results[3]).toEqual({ err: 'OutcomeUnknownError', cause: 'TimeoutError' })
    expect(t.pending).toBe(0)
  })

  it('fails every waiting write at once, and later writes still time out', async () => {
    const clock = new FakeClock()
    const t = new CommitTracker(0, clock, 1000)
    const a = settled(t.wait(1, 1))
    const b = settled(t.wait(2, 1))
    t.failAll((seq) => new OutcomeUnknownError(0, seq))
    expect(await a).toEqual({ err: 'OutcomeUnknownError' })
    expect(await b).toEqual({ err: 'OutcomeUnknownError' })
    const c = settled(t.wait(3, 1))
    await clock.advance(1000)
    expect(await c).toEqual({ err: 'OutcomeUnknownError', cause: 'TimeoutError' })
  })

  it('says where the replica stood when a write timed out', async () => {
    const clock = new FakeClock()
    const t = new CommitTracker(7, clock, 1000, () => 'primary in epoch 3, committed 41; p1 acked 41, p2 acked 44')
    const err = t.wait(42, 3).then(() => undefined, (e: unknown) => e as Error)
    await clock.advance(1000)
    expect((await err)?.message).toMatch(/write 42 to domain 7 waiting for backups \(primary in epoch 3, committed 41; p1 acked 41, p2 acked 44\)/)
    expect((await err)?.message).toMatch(/may or may not have been applied/)
  })

  it('fails a write whose wait ends for any other reason as of unknown outcome, the reason as its cause', async () => {
    const t = new CommitTracker(5, new FakeClock(), 1000)
    const a = t.wait(8, 2).then(() => undefined, (e: unknown) => e as OutcomeUnknownError)
    t.failAll(() => new StaleEpochError(5, 2, 3))
    const err = await a
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    expect(err).toMatchObject({ code: 'OUTCOME_UNKNOWN', details: { domain: 5, seq: 8, cause: 'STALE_EPOCH' } })
    expect(err?.cause).toBeInstanceOf(StaleEpochError)
    expect(err?.message).toBe('domain 5: write 8 may or may not have been applied: StaleEpochError: domain 5: epoch 2 is older than 3; this node was fenced off')
  })
})
