/**
 * The benchmark's own arithmetic and report: figures never enter `npm test`, but how they are
 * summarised and judged does. A row that reads a key the run no longer writes shows "n/a".
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { unpaced } from '../../bench/domainmesh.js'
import { renderReport, type Meta } from '../../bench/report.js'
import { figure, percentile, type Figure } from '../../bench/stats.js'
import type { BenchCluster } from '../../bench/cluster.js'
import { atRest } from '../../bench/memory.js'
import type { PeerProcess } from '../helpers/processes.js'
import type { Store } from '../../src/store/store.js'

const latest = JSON.parse(readFileSync(join(import.meta.dirname, '../../bench/results/latest.json'), 'utf8')) as Meta & { results: Record<string, Figure> }

describe('benchmark summaries', () => {
  it('median, min and max across runs; nearest-rank percentiles', () => {
    expect(figure([5, 1, 3])).toMatchObject({ median: 3, min: 1, max: 5, runs: [5, 1, 3] })
    expect(figure([4, 1, 3, 2]).median).toBe(2.5)
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([50, 99, 100])
    expect(percentile([], 50)).toBeNaN()
  })

  it('the committed results fill every row of the report', () => {
    const md = renderReport(latest.results, latest)
    expect(md.split('\n').filter((l) => l.includes('n/a'))).toEqual([])
  })

  it('judges the throughput target on writers that never wait, against half the raw channel\'s message rate of the same run', () => {
    const at = (opsPerSec: number) => renderReport({ ...latest.results, rawMsgsPerSec: figure([30_000]), 'dm.r3.free.opsPerSec': figure([opsPerSec]) }, latest).split('\n').find((l) => l.includes('writers never wait (as the CRDTs'))!
    expect(at(15_000)).toContain('≥ 50 % of the raw rate: met')
    expect(at(14_999)).toContain('≥ 50 % of the raw rate: **not met**')
  })

  it('judges low-load latency against Yjs\'s in the same run, p50 and p99 both', () => {
    const at = (p50: number, p99: number) => renderReport({ ...latest.results, 'yjs.low.p50': figure([0.5]), 'yjs.low.p99': figure([3]), 'dm.r3.low.oneWayP50': figure([p50]), 'dm.r3.low.oneWayP99': figure([p99]) }, latest).split('\n').find((l) => l.includes('one-way: write call'))!
    expect(at(0.5, 3)).toContain('at or below Yjs\'s (1.00× / 1.00×): met')
    expect(at(0.4, 3.01)).toContain('**not met**')
    expect(at(0.51, 1)).toContain('**not met**')
  })

  it('judges healing p99 on the healing window against before, and shows the heal delay beside it', () => {
    // Results from before the split have no heal-delay figure.
    const older = Object.fromEntries(Object.entries(latest.results).filter(([k]) => k !== 'heal.p99DelayMs'))
    const md = (during: number, delay?: number) =>
      renderReport({ ...older, 'heal.p99BeforeMs': figure([6]), 'heal.p99DuringMs': figure([during]), ...(delay === undefined ? {} : { 'heal.p99DelayMs': figure([delay]) }) }, latest).split('\n')
    const row = (m: string[]) => m.find((l) => l.includes('before the kill → during the healing'))!
    expect(row(md(9))).toContain('within 1.5×: met')
    expect(row(md(9.01, 40))).toContain('**not met**')
    expect(md(9, 40).find((l) => l.includes('during the heal delay'))).toContain('40.00')
    expect(md(9).some((l) => l.includes('during the heal delay'))).toBe(false)
  })

  it('judges memory at rest against twice the JSON size, and keeps the reading 3 s after the fill beside it', () => {
    const json = latest.results['mem.jsonBytesPer100k']!.median
    const md = (atRest: number) => renderReport({ ...latest.results, 'mem.bytesPer100k': figure([atRest]), 'mem.rightAfterBytesPer100k': figure([99e6]) }, latest)
    const row = (m: string) => m.split('\n').find((l) => l.includes('**Memory**'))!
    expect(row(md(2 * json))).toContain(': met')
    expect(row(md(2 * json + 1))).toContain('**not met**')
    expect(md(2 * json).split('\n').find((l) => l.includes('3 s after the fill'))).toContain('99.0')
  })
})

describe('memory at rest', () => {
  it('waits for two readings in a row with the heap at rest and the resident size steady; gives up after its limit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      // [heap total, heap used, resident] per reading, 2 s apart: 70/36 and 60/36 are a burst's
      // headroom, 25/21 is at rest; 40/21 is a sweep starting right after a reading at rest, and
      // 110 -> 118 MB is the resident size still moving.
      const readings = [[70e6, 36e6, 100e6], [60e6, 36e6, 100e6], [25e6, 21e6, 120e6], [40e6, 21e6, 125e6], [25e6, 21e6, 110e6], [25e6, 21e6, 118e6], [25e6, 21e6, 118.5e6]] as const
      let reads = 0
      const peer = {
        metrics: async () => {
          const [total, used, rss] = readings[Math.min(reads++, readings.length - 1)]!
          return { objects: 10, process: { rssBytes: rss, heapTotalBytes: total, heapUsedBytes: used } }
        },
      } as unknown as PeerProcess
      const rest = atRest(peer)
      await vi.advanceTimersByTimeAsync(30_000)
      const r = await rest
      expect(r.memory.rssBytes).toBe(118.5e6)
      expect(r.waitedMs).toBe(12_000) // six waits of 2 s after the first reading
      const never = { metrics: async () => ({ objects: 10, process: { rssBytes: 1, heapTotalBytes: 70e6, heapUsedBytes: 30e6 } }) } as unknown as PeerProcess
      const late = atRest(never)
      await vi.advanceTimersByTimeAsync(200_000)
      expect((await late).waitedMs).toBeUndefined()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('unpaced writers', () => {
  it('issue at most 200 changes per event-loop turn, none waiting for another, and count to the last ack', async () => {
    let inTurn = 0
    let maxInTurn = 0
    let outstanding = 0
    let maxOutstanding = 0
    const store = {
      patch: () => {
        if (inTurn++ === 0) setImmediate(() => (inTurn = 0))
        maxInTurn = Math.max(maxInTurn, inTurn)
        maxOutstanding = Math.max(maxOutstanding, ++outstanding)
        return new Promise<void>((r) => setTimeout(() => (outstanding--, r()), 200))
      },
    } as unknown as Store
    let bytes = 0
    const c = { bytesOut: async () => (bytes += 50_000) } as unknown as BenchCluster
    const r = await unpaced(c, store, 1000)
    expect(maxInTurn).toBeLessThanOrEqual(200)
    expect(maxOutstanding).toBe(1000) // nothing awaited before all were issued
    expect(r.bytesPerOp).toBe(50)
    expect(r.p50).toBeGreaterThanOrEqual(190)
    expect(r.opsPerSec).toBeLessThan(1000 / 0.2)
  })
})
