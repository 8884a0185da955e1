import { describe, expect, it } from 'vitest'
import { Deadlines } from '../../src/routing/deadlines.js'
import { FakeClock } from '../../src/util/clock.js'

function setup() {
  const clock = new FakeClock()
  const live = new Set<number>()
  const expired: [number, number][] = []
  const d = new Deadlines(clock, (id) => live.has(id), (id) => {
    live.delete(id)
    expired.push([id, clock.now()])
  })
  const send = (id: number, ms: number) => (live.add(id), d.add(id, ms))
  return { clock, live, expired, d, send }
}

describe('request deadlines', () => {
  it('each request expires at its own deadline, whatever the mix of timeouts', async () => {
    const { clock, expired, send } = setup()
    send(1, 100)
    await clock.advance(10)
    send(2, 30) // earlier than 1's
    send(3, 100)
    await clock.advance(500)
    expect(expired).toEqual([[2, 40], [1, 100], [3, 110]])
  })

  it('an answered request never expires, and the timer keeps to the requests still waiting', async () => {
    const { clock, live, expired, send } = setup()
    send(1, 100)
    await clock.advance(50)
    send(2, 100)
    live.delete(1) // answered
    await clock.advance(100)
    expect(expired).toEqual([[2, 150]])
    expect(clock.pending()).toBe(0)
  })

  it('holds one timer for any number of requests in flight, and about as many ids as are in flight', async () => {
    const { clock, live, expired, d, send } = setup()
    for (let i = 0; i < 50_000; i++) {
      send(i, 10_000)
      if (i >= 100) live.delete(i - 100) // answered, 100 behind
    }
    expect(clock.pending()).toBe(1)
    expect(d.size).toBeLessThan(5_000)
    await clock.advance(20_000)
    expect(expired.map(([id]) => id)).toEqual(Array.from({ length: 100 }, (_, i) => 49_900 + i))
  })

  it('a wall clock set back does not keep a request waiting past its timeout', async () => {
    const fake = new FakeClock()
    let skew = 0
    const clock = { now: () => fake.now() + skew, setTimeout: (fn: () => void, ms: number) => fake.setTimeout(fn, ms), clearTimeout: (h: Parameters<FakeClock['clearTimeout']>[0]) => fake.clearTimeout(h) }
    const expired: number[] = []
    const live = new Set([1])
    const d = new Deadlines(clock, (id) => live.has(id), (id) => (live.delete(id), expired.push(id)))
    d.add(1, 100)
    skew = -3_600_000 // an hour back
    await fake.advance(100)
    expect(expired).toEqual([1])
  })

  it('times requests on the monotonic clock where there is one: a wall clock set forward expires nothing early', async () => {
    const fake = new FakeClock()
    let skew = 0
    const clock = { now: () => fake.now() + skew, monotonic: () => fake.now(), setTimeout: (fn: () => void, ms: number) => fake.setTimeout(fn, ms), clearTimeout: (h: Parameters<FakeClock['clearTimeout']>[0]) => fake.clearTimeout(h) }
    const expired: number[] = []
    const live = new Set([1, 2])
    const d = new Deadlines(clock, (id) => live.has(id), (id) => (live.delete(id), expired.push(id)))
    d.add(1, 100)
    await fake.advance(50)
    d.add(2, 100) // due at 150
    skew = 3_600_000 // then the wall clock goes an hour ahead
    await fake.advance(50)
    expect(expired).toEqual([1])
    await fake.advance(49)
    expect(expired).toEqual([1]) // not at 100 with the first, though its wall deadline has passed
    await fake.advance(1)
    expect(expired).toEqual([1, 2])
  })

  it('a request sent while others expire is timed from its own start; stop forgets them all', async () => {
    const { clock, expired, d, send, live } = setup()
    const again = new Deadlines(clock, (id) => live.has(id), (id) => {
      live.delete(id)
      expired.push([id, clock.now()])
      if (id === 1) send(9, 20) // a retry sent from the expiry
    })
    live.add(1)
    again.add(1, 10)
    send(5, 1000)
    await clock.advance(100)
    expect(expired).toEqual([[1, 10], [9, 30]])
    d.stop()
    await clock.advance(2000)
    expect(expired).toHaveLength(2)
    expect(clock.pending()).toBe(0)
  })
})
