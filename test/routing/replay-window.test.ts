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
          // An id `span` or more below the highest never reaches us within one life of a peer.
          if (max >= 0 && id <= max - span) continue
          expect(w.firstTime(id)).toBe(!seen.has(id))
          seen.add(id)
          max = Math.max(max, id)
        }
      }),
      { seed: 8, numRuns: 2000 },
    )
  })

  it('keeps two lives of a peer apart, whichever counts from lower, their frames mixed in any order', () => {
    const span = 32
    const life = fc.record({ base: fc.integer({ min: 0, max: 3 }), offsets: fc.array(fc.nat(120), { maxLength: 40 }) })
    fc.assert(
      fc.property(life, life, fc.array(fc.boolean(), { maxLength: 80 }), (l1, l2, order) => {
        // Lives count from random points far apart (messenger.ts), either one the lower.
        const bases = [2 ** 40 + l1.base * 2 ** 36, 2 ** 40 + l2.base * 2 ** 36 + 2 ** 35]
        const lives = [l1.offsets, l2.offsets]
        const w = new ReplayWindow(span)
        const seen = new Set<number>()
        const max = [-1, -1]
        const next = [0, 0]
        const take = (i: number) => {
          const id = bases[i]! + lives[i]![next[i]!++]!
          // Within one life, ids never come `span` or more below its highest (ordered channel).
          if (max[i]! >= 0 && id <= max[i]! - span) return
          expect(w.firstTime(id)).toBe(!seen.has(id))
          seen.add(id)
          max[i] = Math.max(max[i]!, id)
        }
        for (const second of order) if (next[second ? 1 : 0]! < lives[second ? 1 : 0]!.length) take(second ? 1 : 0)
        for (const i of [0, 1]) while (next[i]! < lives[i]!.length) take(i)
      }),
      { seed: 9, numRuns: 2000 },
    )
  })

  it('a restarted peer that counts from below its past life: each of its requests runs once (sim seed 194)', () => {
    const w = new ReplayWindow(64)
    const past = 2 ** 47
    const now = 2 ** 40
    // A stopped node goes on: first what the peer's past life sent, then its new life's frames, one of them twice.
    expect([w.firstTime(past), w.firstTime(past + 1), w.firstTime(now), w.firstTime(now + 1), w.firstTime(now + 1), w.firstTime(now)]).toEqual([true, true, true, true, false, false])
    // A late frame of the past life, and its repeat, between the new life's.
    expect([w.firstTime(past + 2), w.firstTime(now + 2), w.firstTime(past + 2), w.firstTime(past + 1), w.firstTime(now + 2)]).toEqual([true, true, false, false, false])
  })

  it('never refuses an id it has not seen, whatever the order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(200)), { maxLength: 100 }), (ids) => {
        const w = new ReplayWindow(32)
        const seen = new Set<number>()
        for (const [life, o] of ids) {
          const id = 2 ** 40 + life * 2 ** 35 + o
          if (!seen.has(id)) expect(w.firstTime(id)).toBe(true)
          else w.firstTime(id)
          seen.add(id)
        }
      }),
      { seed: 10, numRuns: 2000 },
    )
  })

  it('names a bad span', () => {
    expect(() => new ReplayWindow(100)).toThrow(/multiple of 32, not 100/)
  })
})
