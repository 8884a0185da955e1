import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ReplayWindow } from '../../src/routing/replay-window.js'

describe('ReplayWindow', () => {
  it('says yes to an id once, and no to its repeats', () => {
    const w = new ReplayWindow(64)
    const base = 2 ** 47 + 5 // ids are above 2^31 (messenger.ts starts them at a random point below 2^48)
    expect([w.firstTime(base), w.firstTime(base), w.firstTime(base + 3), w.firstTime(base + 1), w.firstTime(base + 3), w.firstTime(base + 1)]).toEqual([true, false, true, true, false, false])
  })

  it('forgets the slots it slides past: the id that reuses a slot is new', () => {
    const w = new ReplayWindow(32)
    expect(w.firstTime(100)).toBe(true)
    expect(w.firstTime(131)).toBe(true) // 131 - 100 = 31: 100 is still in the window
    expect(w.firstTime(100)).toBe(false)
    expect(w.firstTime(132)).toBe(true) // the slot of 100 now means 132
    expect(w.firstTime(132)).toBe(false)
    expect(w.firstTime(117)).toBe(true) // in the window (132 - 117 < 32), not seen before
    expect(w.firstTime(150)).toBe(true) // slides 18 ids: 149 takes the slot of 117
    expect(w.firstTime(149)).toBe(true)
    expect(w.firstTime(1000)).toBe(true) // a jump past the whole window
    expect(w.firstTime(999)).toBe(true)
    expect(w.firstTime(999)).toBe(false)
  })

  it('within its span it answers as a set of every id seen would (ids in any order)', () => {
    const span = 32
    fc.assert(
      fc.property(fc.array(fc.nat(120), { maxLength: 60 }), (offsets) => {
        const w = new ReplayWindow(span)
        const seen = new Set<number>()
        let max = -1
        for (const o of offsets) {
          const id = 2 ** 40 + o
          const inWindow = max < 0 || id > max - span
          const expected = !seen.has(id)
          const got = w.firstTime(id)
          if (inWindow) expect(got).toBe(expected)
          else expect(got).toBe(true) // too old to tell: counts as new, as documented
          seen.add(id)
          max = Math.max(max, id)
        }
      }),
      { seed: 8, numRuns: 2000 },
    )
  })

  it('names a bad span', () => {
    expect(() => new ReplayWindow(100)).toThrow(/multiple of 32, not 100/)
  })
})
