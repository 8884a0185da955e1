/** A fenced primary's grace: its pending writes fail only if no view as new as the fence arrives. */
import { describe, expect, it } from 'vitest'
import { Fence } from '../../src/replication/fence.js'
import { FakeClock } from '../../src/util/clock.js'

function fence() {
  const clock = new FakeClock()
  const expired: number[] = []
  return { clock, expired, f: new Fence(clock, 1000, (by) => expired.push(by)) }
}

describe('fence', () => {
  it('expires after the grace when no newer view comes, naming the newest fencing epoch', async () => {
    const { clock, expired, f } = fence()
    f.raise(7, true)
    f.raise(9, true)
    expect(f.holds(6)).toBe(true)
    expect(f.holds(9)).toBe(false)
    await clock.advance(999)
    expect(expired).toEqual([])
    await clock.advance(1)
    expect(expired).toEqual([9])
  })

  it('ends the grace for a view as new as the fence, not for an older one', async () => {
    const { clock, expired, f } = fence()
    f.raise(9, true)
    f.settle(8)
    await clock.advance(1000)
    expect(expired).toEqual([9])
    const g = fence()
    g.f.raise(9, true)
    g.f.settle(9)
    await g.clock.advance(5000)
    expect(g.expired).toEqual([])
  })

  it('starts no grace without pending writes', async () => {
    const { clock, expired, f } = fence()
    f.raise(9, false)
    expect(f.holds(8)).toBe(true)
    await clock.advance(5000)
    expect(expired).toEqual([])
  })
})
