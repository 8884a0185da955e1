/** The per-process clock of the simulation: a stopped process runs no timers until it resumes; a dead one never again. */
import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/util/clock.js'
import { ProcessClock } from '../helpers/process-clock.js'

describe('ProcessClock', () => {
  it('timers due while paused run at the resume, in order; time itself goes on', async () => {
    const base = new FakeClock(0)
    const clock = new ProcessClock(base)
    const fired: string[] = []
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10)
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20)
    const cleared = clock.setTimeout(() => fired.push('cleared'), 15)
    clock.pause()
    await base.advance(50)
    expect(fired).toEqual([])
    clock.clearTimeout(cleared)
    clock.gate(() => fired.push('gated'))
    expect(fired).toEqual([])
    clock.resume()
    await base.advance(0)
    expect(fired).toEqual(['gated', 'a@50', 'b@50'])
  })

  it('a killed clock runs nothing more, not even what was held', async () => {
    const base = new FakeClock(0)
    const clock = new ProcessClock(base)
    const fired: number[] = []
    clock.setTimeout(() => fired.push(1), 10)
    clock.pause()
    await base.advance(20)
    clock.setTimeout(() => fired.push(2), 5)
    clock.kill()
    clock.resume()
    clock.setTimeout(() => fired.push(3), 1)
    await base.advance(50)
    expect(fired).toEqual([])
    expect(base.pending()).toBe(0)
  })
})
