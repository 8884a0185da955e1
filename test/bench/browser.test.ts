/**
 * The Chromium benchmark's table (bench/browser-report.ts): the committed runs render to the
 * committed table, every system has its column, and ratios pair the systems of one run. The
 * figures themselves never enter `npm test`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderBrowser, SYSTEMS, type BrowserMeta, type BrowserResult, type BrowserRuns } from '../../bench/browser-report.js'

const results = join(import.meta.dirname, '../../bench/results')

const run = (opsPerSec: number, over: Partial<BrowserResult> = {}): BrowserResult => ({ opsPerSec, lowP50: 1, lowP99: 2, loopMs: 1, doneMs: 1, durableOpsPerSec: opsPerSec / 2, ...over })
const meta: BrowserMeta = { at: 'now', runs: 3, ops: 20_000, loadBefore: '1 1 1', loadAfter: '1 1 1' }
const cells = (md: string, text: string) => md.split('\n').find((l) => l.startsWith(`| ${text}`))!.split(' | ').slice(1).map((c) => c.replace(/ \|$/, ''))
const header = (md: string) => md.split('\n').find((l) => l.startsWith('| figure'))!.split(' | ').slice(1).map((c) => c.replace(/ \|$/, ''))

describe('the Chromium table', () => {
  it('is what the committed runs render to, every cell filled, all four systems with all their runs', () => {
    const committed = JSON.parse(readFileSync(join(results, 'browser.json'), 'utf8')) as BrowserMeta & { results: BrowserRuns }
    expect(renderBrowser(committed, committed.results)).toBe(readFileSync(join(results, 'browser.md'), 'utf8'))
    for (const k of SYSTEMS) expect(committed.results[k]).toHaveLength(committed.runs)
    expect(committed.runs).toBeGreaterThanOrEqual(5)
    expect(renderBrowser(committed, committed.results)).not.toContain('n/a')
  })

  it('has a column for Yjs + y-indexeddb, the like-for-like ratio and what IndexedDB costs each system, beside the old ones', () => {
    const rs: BrowserRuns = { idb: [run(1000), run(1000), run(1000)], yjsIdb: [run(100), run(200), run(400)], memory: [run(2000), run(2000), run(2000)], yjs: [run(400), run(400), run(400)] }
    const md = renderBrowser(meta, rs)
    expect(header(md)).toEqual(['domainmesh, IndexedDB', 'Yjs + y-webrtc + y-indexeddb', 'domainmesh, memory', 'Yjs + y-webrtc, memory', 'domainmesh ÷ Yjs, both IndexedDB', 'IndexedDB ÷ memory, domainmesh', 'IndexedDB ÷ memory, Yjs', 'domainmesh IndexedDB ÷ Yjs memory'])
    expect(cells(md, 'the first 20,000')).toEqual(['1,000 (1,000–1,000)', '200 (100–400)', '2,000 (2,000–2,000)', '400 (400–400)', '5.00 (2.50–10.00)', '0.50 (0.50–0.50)', '0.50 (0.25–1.00)', '2.50 (2.50–2.50)'])
    // Until on disk: only the IndexedDB systems and their ratio.
    expect(cells(md, '… until every tab')).toEqual(['500 (500–500)', '100 (50–200)', '—', '—', '5.00 (2.50–10.00)', '—', '—', '—'])
  })

  it('takes ratios run by run, not of the medians', () => {
    // Per run 10, 0.5 and 2: median 2; the medians' ratio would be 2,000 ÷ 1,500.
    const rs: BrowserRuns = { idb: [run(1000), run(2000), run(3000)], yjsIdb: [run(100), run(4000, { lowP99: 4 }), run(1500)], memory: [run(1), run(1), run(1)], yjs: [run(1), run(1), run(1)] }
    expect(cells(renderBrowser(meta, rs), 'the first 20,000')[4]).toBe('2.00 (0.50–10.00)')
    expect(cells(renderBrowser(meta, rs), '… p99')[4]).toBe('1.00 (0.50–1.00)')
  })

  it('refuses runs missing for a system (the systems alternate, so each has every run)', () => {
    const rs: BrowserRuns = { idb: [run(1), run(1), run(1)], yjsIdb: [run(1), run(1)], memory: [run(1), run(1), run(1)], yjs: [run(1), run(1), run(1)] }
    expect(() => renderBrowser(meta, rs)).toThrow(/yjsIdb: 2 runs/)
  })
})
