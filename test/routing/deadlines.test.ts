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
