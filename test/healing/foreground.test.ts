/**
 * Healing's pieces wait for a quiet moment between this node's writes, but never longer than the
 * cap: a steady stream of writes slows a copy down and cannot stop it.
 */
import { describe, expect, it } from 'vitest'
import { Foreground } from '../../src/healing/foreground.js'
import { FakeClock } from '../../src/util/clock.js'

/**
 * How many fake ms after the call `quiet()` resolves, while `tick(elapsed)` runs at every whole
 * ms before that (a write seen then, if it touches).
 */
async function waited(clock: FakeClock, fg: Foreground, tick: (elapsed: number) => void = () => {}): Promise<number> {
  const start = clock.now()
  let at: number | undefined
  void fg.quiet().then(() => (at = clock.now()))
  await clock.advance(0)
  for (let i = 0; i < 200 && at === undefined; i++) {
    tick(clock.now() - start)
    await clock.advance(1)
  }
  return (at ?? Infinity) - start
}

describe('Foreground', () => {
  it('lets a piece go at once when no write was seen for the quiet time', async () => {
    const clock = new FakeClock(1000)
    const fg = new Foreground(clock, 3, 25)
    expect(await waited(clock, fg)).toBe(0)
    fg.touch()
    await clock.advance(3)
    expect(await waited(clock, fg)).toBe(0)
  })

  it('holds a piece until the quiet time after the last write has passed', async () => {
    const clock = new FakeClock(0)
    const fg = new Foreground(clock, 3, 25)
    fg.touch()
    expect(await waited(clock, fg)).toBe(3)
    // A write just now, then 1 and 2 ms into the wait, then none: the piece goes 3 ms after the last.
    fg.touch()
    expect(await waited(clock, fg, (elapsed) => elapsed <= 2 && fg.touch())).toBe(5)
  })

  it('lets a piece go after the cap under a steady stream of writes', async () => {
    const clock = new FakeClock(0)
    const fg = new Foreground(clock, 3, 25)
    fg.touch()
    expect(await waited(clock, fg, () => fg.touch())).toBe(25)
  })

  it('never waits with a quiet time of 0', async () => {
    const clock = new FakeClock(0)
    const fg = new Foreground(clock, 0, 25)
    fg.touch()
    expect(await waited(clock, fg)).toBe(0)
  })
})
