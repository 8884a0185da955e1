/** The fresh-cluster table (fresh.ts): `npm run bench` and `npm run bench:fresh` write it to bench/results/fresh.md. */
import { cell, figure, fmt, type Figure } from './stats.js'

export interface FreshMeta {
  date: string
  runs: number
  ops: number
  pacedOps: number
  memObjects: number
  node: string
  /** /proc/loadavg before and after the fresh parts. */
  loadBefore: string
  loadAfter: string
  commit: string
}

export function renderFresh(r: Record<string, Figure>, meta: FreshMeta): string {
  const f = (k: string): Figure => r[k] ?? { median: NaN, min: NaN, max: NaN, runs: [] }
  const med = (k: string) => f(k).median
  const ms = (k: string) => cell(f(k), 2)
  const mb = (k: string) => cell(figure(f(k).runs.map((b) => b / 1e6)), 1)
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**')
  const rows: string[][] = [
    [`**Fresh clusters**: new processes each run, the first ${meta.ops.toLocaleString('en-US')} changes after start, a random object and field per change, the writer a peer process, counted when every peer's copy has applied the last one (changes/s)`, '', ''],
    ['domainmesh, 3 nodes, replicas 3', cell(f('fresh.dm.opsPerSec')), ''],
    ['Yjs + y-webrtc, 3 processes', cell(f('fresh.yjs.opsPerSec')), ''],
    ['ratio, domainmesh ÷ Yjs (each run against the Yjs run next to it)', cell(f('fresh.ratio.opsPerSec'), 2), `≥ 3: ${verdict(med('fresh.ratio.opsPerSec') >= 3)}`],
    ['CPU per change per node over the burst (µs; all threads of each process, averaged over the 3): domainmesh / Yjs', `${cell(f('fresh.dm.cpuUs'))} / ${cell(f('fresh.yjs.cpuUs'))}`, ''],
    ...(r['fresh.dm.cpuUsWriter'] ? [['… the writer alone / each other peer: domainmesh · Yjs', `${cell(f('fresh.dm.cpuUsWriter'))} / ${cell(f('fresh.dm.cpuUsOthers'))} · ${cell(f('fresh.yjs.cpuUsWriter'))} / ${cell(f('fresh.yjs.cpuUsOthers'))}`, '']] : []),
    [`**Latency at low load**, right after, on the same processes: one change every 5 ms (${meta.pacedOps} per run), one-way from the writer's call to each other peer's copy (ms)`, 'p50 / p99', ''],
    ['domainmesh', `${ms('fresh.dm.lowP50')} / ${ms('fresh.dm.lowP99')}`, ''],
    ['Yjs', `${ms('fresh.yjs.lowP50')} / ${ms('fresh.yjs.lowP99')}`, ''],
    ['ratio, domainmesh ÷ Yjs, run by run', `${ms('fresh.ratio.lowP50')} / ${ms('fresh.ratio.lowP99')}`, `≤ 1 both: ${verdict(med('fresh.ratio.lowP50') <= 1 && med('fresh.ratio.lowP99') <= 1)}`],
    ['**CPU time per change per node**: replicas 2, every node writes (random objects and fields), each process\'s CPU seconds (all threads) ÷ all the run\'s changes (µs)', 'mean of the nodes / the busiest', ''],
    ['3 nodes', `${cell(f('cpu.n3.mean'))} / ${cell(f('cpu.n3.max'))}`, ''],
    ['5 nodes', `${cell(f('cpu.n5.mean'))} / ${cell(f('cpu.n5.max'))}`, `falls from 3 to 5 nodes: ${verdict(med('cpu.n5.mean') < med('cpu.n3.mean'))}`],
    ['ratio 5 ÷ 3 nodes, run by run (each node holds 2/5 against 2/3 of the data: 0.6 if CPU followed the data alone)', cell(f('cpu.ratio'), 2), ''],
    [`**Memory**: 3 nodes, replicas 2, ${meta.memObjects.toLocaleString('en-US')} small objects put by one peer (64 in flight); the other peers read 30 s after the last put (the one with the larger growth per object)`, '', ''],
    ['resident size (MB)', mb('mem30.rssBytes'), ''],
    ['its growth since just before the fill, per 100,000 objects it holds (MB)', mb('mem30.growthPer100k'), ''],
    ['… ÷ the JSON of those objects', `${cell(f('mem30.ratio'), 2)} (JSON: ${fmt(med('mem30.jsonPer100k') / 1e6, 1)} MB per 100,000)`, `≤ 3: ${verdict(med('mem30.ratio') <= 3)}`],
  ]
  return `${meta.date} · ${meta.commit} · Node ${meta.node} · ${meta.runs} runs per figure, domainmesh and Yjs alternating: median (min–max) · load average before ${meta.loadBefore}, after ${meta.loadAfter}

| figure | value | target |
|---|---|---|
${rows.map((row) => `| ${row.join(' | ')} |`).join('\n')}
`
}
