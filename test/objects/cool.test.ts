/**
 * A quiet domain keeps its log and objects encoded (DomainState.cool, QuietSweep); everything read
 * from it afterwards must be what it would have been without that.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DomainState } from '../../src/replication/domain-state.js'
import type { LogEntry } from '../../src/replication/log.js'
import { QuietSweep } from '../../src/objects/quiet-sweep.js'
import { FakeClock } from '../../src/util/clock.js'

const entry = (seq: number, epoch: number, i: number): LogEntry =>
  i % 3 === 0
    ? { seq, epoch, vs: 'v', key: `k${i % 7}`, change: { kind: 'put', value: { n: i, tags: ['a', i], deep: { x: i / 2 } } } }
    : i % 3 === 1
      ? { seq, epoch, vs: 'v', key: `k${i % 7}`, change: { kind: 'put', value: { n: i } } }
      : { seq, epoch, vs: 'v', key: `k${i % 7}`, change: { kind: 'delete' } }

type Step = { t: 'apply'; n: number; epochUp: boolean } | { t: 'cool' } | { t: 'truncate'; keep: number } | { t: 'read'; back: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ t: fc.constant('apply' as const), n: fc.integer({ min: 1, max: 12 }), epochUp: fc.boolean() }),
  fc.constant({ t: 'cool' as const }),
  fc.record({ t: fc.constant('truncate' as const), keep: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ t: fc.constant('read' as const), back: fc.integer({ min: 0, max: 40 }) }),
)

describe('cooling a domain', () => {
  it('answers every log and object question as a domain never cooled does', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const cooled = new DomainState(1)
        const plain = new DomainState(1)
        let epoch = 1
        let i = 0
        for (const s of steps) {
          if (s.t === 'apply') {
            if (s.epochUp) epoch++
            for (let k = 0; k < s.n; k++, i++) {
              const e = entry(plain.lastSeq + 1, epoch, i)
              plain.apply(e)
              cooled.apply(structuredClone(e))
            }
          } else if (s.t === 'cool') cooled.cool()
          else if (s.t === 'truncate') {
            plain.truncateLog(s.keep)
            cooled.truncateLog(s.keep)
          } else {
            const at = plain.lastSeq - s.back
            expect(cooled.epochAt(at)).toBe(plain.epochAt(at))
            expect(cooled.entriesAfter(at)).toEqual(plain.entriesAfter(at))
          }
          expect([cooled.logStart, cooled.logStartEpoch, cooled.logLength]).toEqual([plain.logStart, plain.logStartEpoch, plain.logLength])
        }
        expect(cooled.entriesAfter(cooled.logStart)).toEqual(plain.entriesAfter(plain.logStart))
        expect([...cooled.objects].sort()).toEqual([...plain.objects].sort())
      }),
      { seed: 11, numRuns: 300 },
    )
  })

  it('holds nothing decoded afterwards, and decodes again only what is asked for', () => {
    const d = new DomainState(1)
    for (let i = 0; i < 200; i++) d.apply(entry(i + 1, 1, i * 3))
    expect([d.decodedEntries, d.objects.decoded]).toEqual([200, 7])
    d.cool()
    expect([d.decodedEntries, d.objects.decoded, d.logLength]).toEqual([0, 0, 200])
    expect(d.epochAt(200)).toBe(1) // the last entry's epoch is known without decoding
    expect(d.entriesAfter(200)).toEqual([])
    expect(d.decodedEntries).toBe(0)
    d.apply(entry(201, 2, 5))
    expect(d.entriesAfter(200)!.map((e) => e.seq)).toEqual([201]) // only what came after
    expect(d.decodedEntries).toBe(1)
    expect([d.epochAt(200), d.epochAt(201)]).toEqual([1, 2]) // 200: the last encoded entry
    expect(d.decodedEntries).toBe(201)
    expect(d.entriesAfter(150)!.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, k) => 151 + k))
    expect(d.decodedEntries).toBe(201)
  })
})

describe('QuietSweep', () => {
  it('cools a domain after one whole interval without writes, and leaves a busy one alone', async () => {
    const clock = new FakeClock()
    const quiet = new DomainState(1)
    const busy = new DomainState(2)
    for (let i = 0; i < 10; i++) {
      quiet.apply(entry(i + 1, 1, i * 3))
      busy.apply(entry(i + 1, 1, i * 3))
    }
    const quietedAt: number[] = []
    const sweep = new QuietSweep(clock, 1000, () => [quiet, busy], (d, err) => { throw new Error(`domain ${d}: ${String(err)}`) }, () => quietedAt.push(clock.now()))
    sweep.start()
    await clock.advance(1000) // first look: both just seen
    expect([quiet.decodedEntries, busy.decodedEntries]).toEqual([10, 10])
    for (let t = 0; t < 3; t++) {
      busy.apply(entry(busy.lastSeq + 1, 1, 1))
      await clock.advance(1000)
    }
    expect(quiet.decodedEntries).toBe(0)
    expect(quiet.objects.decoded).toBe(0)
    expect(busy.decodedEntries).toBe(13)
    expect(quietedAt).toEqual([2000]) // told once, when it cooled a domain; not on looks that cooled nothing
    sweep.stop()
    expect(clock.pending()).toBe(0)
  })

  it('does nothing with an interval of 0', async () => {
    const clock = new FakeClock()
    const d = new DomainState(1)
    d.apply(entry(1, 1, 0))
    new QuietSweep(clock, 0, () => [d], () => {}).start()
    expect(clock.pending()).toBe(0)
    await clock.advance(60_000)
    expect(d.decodedEntries).toBe(1)
  })
})
