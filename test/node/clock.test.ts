import { describe, expect, it } from 'vitest'
import { FakeClock, RealClock } from '../../src/util/clock.js'
import { Emitter } from '../../src/util/events.js'

describe('clocks', () => {
  it('FakeClock fires timers in time order, ties in creation order, and lets their promises settle', async () => {
    const clock = new FakeClock(1000)
    const log: string[] = []
    clock.setTimeout(() => log.push('b@20'), 20)
    clock.setTimeout(() => void Promise.resolve().then(() => log.push('a@10 then')), 10)
    clock.setTimeout(() => log.push('c@20'), 20)
    const cancelled = clock.setTimeout(() => log.push('never'), 5)
    clock.clearTimeout(cancelled)
    await clock.advance(15)
    expect(log).toEqual(['a@10 then'])
    expect(clock.now()).toBe(1015)
    await clock.advance(100)
    expect(log).toEqual(['a@10 then', 'b@20', 'c@20'])
    expect(clock.pending()).toBe(0)
  })

  it('RealClock tracks and clears its timers', async () => {
    const clock = new RealClock()
    let fired = 0
    clock.setTimeout(() => fired++, 1)
    const h = clock.setTimeout(() => fired++, 1)
    clock.clearTimeout(h)
    await new Promise((r) => setTimeout(r, 20))
    expect(fired).toBe(1)
    expect(clock.pending()).toBe(0)
  })

  it('Emitter keeps calling listeners after one throws and reports the error', () => {
    const errors: unknown[] = []
    const e = new Emitter<{ x: { n: number } }>((err) => errors.push(err))
    const seen: number[] = []
    e.on('x', () => {
      throw new Error('boom')
    })
    const off = e.on('x', ({ n }) => seen.push(n))
    e.emit('x', { n: 1 })
    off()
    e.emit('x', { n: 2 })
    expect(seen).toEqual([1])
    expect(errors).toHaveLength(2)
  })
})
