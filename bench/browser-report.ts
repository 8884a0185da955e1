/**
 * The Chromium benchmark's table (bench/browser.ts writes bench/results/browser.json, its runs,
 * and browser.md, this rendering of them). Kept apart from the Playwright driver so that
 * test/bench renders the committed runs without a browser.
 */
import { cell, figure } from './stats.js'

/** One run of one system: the burst's rate and the low-load one-way percentiles. */
export interface BrowserResult {
  opsPerSec: number
  lowP50: number
  lowP99: number
  /** The writer tab's own loop and the time until every tab applied the burst (logged, not in the table). */
  loopMs: number
  doneMs: number
  /**
   * The burst's rate until every tab's IndexedDB held all of it (NaN on memory): domainmesh's writer
   * has every change acknowledged (an ack means every owner up has it on disk); y-indexeddb's writes
   * are awaited by nothing, so each tab waits for a transaction queued behind them.
   */
  durableOpsPerSec: number
}

/** domainmesh on IndexedDB, on memory storage; Yjs + y-webrtc with y-indexeddb, without. */
export const SYSTEMS = ['idb', 'yjsIdb', 'memory', 'yjs'] as const
export type BrowserSystem = (typeof SYSTEMS)[number]

export interface BrowserMeta {
  at: string
  runs: number
  ops: number
  loadBefore: string
  loadAfter: string
}

export type BrowserRuns = Record<BrowserSystem, BrowserResult[]>

const ROWS: { metric: 'opsPerSec' | 'lowP50' | 'lowP99'; digits: number; label: (ops: number) => string }[] = [
  { metric: 'opsPerSec', digits: 0, label: (ops) => `the first ${ops.toLocaleString('en-US')} random changes from tab 1 until every tab applied them (changes/s)` },
  { metric: 'lowP50', digits: 2, label: () => 'low load, one change every 5 ms: one-way p50 (ms)' },
  { metric: 'lowP99', digits: 2, label: () => '… p99 (ms)' },
]

export function renderBrowser(meta: BrowserMeta, rs: BrowserRuns): string {
  for (const k of SYSTEMS) if (rs[k].length !== meta.runs) throw new Error(`${k}: ${rs[k].length} runs, expected ${meta.runs}`)
  const f = (k: BrowserSystem, m: keyof BrowserResult, d: number) => cell(figure(rs[k].map((r) => r[m])), d)
  // Ratios run by run (the systems of one run ran back to back), then their median, min and max.
  const ratio = (a: BrowserSystem, b: BrowserSystem, m: keyof BrowserResult) => cell(figure(rs[a].map((r, i) => r[m] / rs[b][i]![m])), 2)
  const rows = ROWS.map(({ metric: m, digits: d, label }) =>
    `| ${label(meta.ops)} | ${f('idb', m, d)} | ${f('yjsIdb', m, d)} | ${f('memory', m, d)} | ${f('yjs', m, d)} | ${ratio('idb', 'yjsIdb', m)} | ${ratio('idb', 'memory', m)} | ${ratio('yjsIdb', 'yjs', m)} | ${ratio('idb', 'yjs', m)} |`,
  )
  const durable = (k: BrowserSystem) => cell(figure(rs[k].map((r) => r.durableOpsPerSec)), 0)
  rows.splice(1, 0, `| … until every tab's IndexedDB also held them (changes/s) | ${durable('idb')} | ${durable('yjsIdb')} | — | — | ${ratio('idb', 'yjsIdb', 'durableOpsPerSec')} | — | — | — |`)
  return `${meta.at} · Chromium, 3 tabs, each its own browser context · ${meta.runs} runs, the four systems alternating: median (min–max) · load average before ${meta.loadBefore}, after ${meta.loadAfter}

| figure | domainmesh, IndexedDB | Yjs + y-webrtc + y-indexeddb | domainmesh, memory | Yjs + y-webrtc, memory | domainmesh ÷ Yjs, both IndexedDB | IndexedDB ÷ memory, domainmesh | IndexedDB ÷ memory, Yjs | domainmesh IndexedDB ÷ Yjs memory |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

* Ratios are taken run by run, then summarised. IndexedDB ÷ memory is what persistence costs each system: below 1 for changes/s, above 1 for latency, means it costs.
* The first row counts a change when every tab's copy applied it; y-indexeddb writes each update in its own IndexedDB transaction, which nothing waits for. The second row waits for IndexedDB too: domainmesh's writer for the acknowledgement of every change (every owner has it on disk), each Yjs tab for a transaction queued behind its writes.
* Chromium gives pages a coarsened clock (100 µs steps without cross-origin isolation): low-load figures are multiples of 0.1 ms.
`
}
