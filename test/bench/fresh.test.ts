/**
 * The fresh-cluster benchmark's own logic (bench/workload.ts, bench/fresh-report.ts): which
 * changes a run issues, when a copy counts as holding them all, and how the table judges its
 * targets. The figures themselves never enter `npm test`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderFresh, type FreshMeta } from '../../bench/fresh-report.js'
import { figure, type Figure } from '../../bench/stats.js'
import { changes, PlanTracker, type Plan } from '../../bench/workload.js'

const plan: Plan = { seed: 7, base: 100, ops: 500, objects: 10, fields: 3 }

describe('the fresh-cluster workload', () => {
  it('is the same sequence for one seed in every process, values base+1 .. base+ops, objects and fields in range', () => {
    const a = [...changes(plan)]
    expect([...changes(plan)]).toEqual(a)
    expect([...changes({ ...plan, seed: 8 })]).not.toEqual(a)
    expect(a.map((c) => c.value)).toEqual(Array.from({ length: 500 }, (_, i) => 101 + i))
    expect(a.every((c) => c.object >= 0 && c.object < 10 && c.field >= 0 && c.field < 3)).toBe(true)
    // Random, not in sequence: every object and field is hit, in no fixed order.
    expect(new Set(a.map((c) => c.object * 3 + c.field)).size).toBe(30)
    expect(a.slice(0, 10).map((c) => c.object)).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('a copy is complete once every field holds its last value, and not before; values outside the plan are ignored', async () => {
    let t = 0
    const tracker = new PlanTracker(plan, () => ++t)
    let done: number | undefined
    void tracker.complete().then((at) => (done = at))
    const all = [...changes(plan)]
    const last = new Map<number, number>()
    for (const c of all) last.set(c.object * 3 + c.field, c.value)
    // A copy that applies two writes to one field at once shows only the later value: skip
    // every change a later one overwrites, and one more, the final value of some field.
    const finals = all.filter((c) => last.get(c.object * 3 + c.field) === c.value)
    tracker.seen(0, 0, 99) // before the plan's range
    tracker.seen(0, 0, 601) // after it
    for (const c of finals.slice(0, -1)) tracker.seen(c.object, c.field, c.value)
    await Promise.resolve()
    expect(done).toBeUndefined()
    const lastOne = finals.at(-1)!
    tracker.seen(lastOne.object, lastOne.field, lastOne.value)
    await Promise.resolve()
    expect(done).toBe(t)
    expect(tracker.arrived.size).toBe(finals.length)
    expect(tracker.arrived.has(99)).toBe(false)
  })

  it('an earlier value of a field does not complete it', async () => {
    const p: Plan = { seed: 1, base: 0, ops: 50, objects: 1, fields: 1 }
    const tracker = new PlanTracker(p, () => 1)
    let done = false
    void tracker.complete().then(() => (done = true))
    for (let v = 1; v < 50; v++) tracker.seen(0, 0, v)
    await Promise.resolve()
    expect(done).toBe(false)
    tracker.seen(0, 0, 50)
    await Promise.resolve()
    expect(done).toBe(true)
  })
})

describe('the fresh-cluster table', () => {
  const committed = JSON.parse(readFileSync(join(import.meta.dirname, '../../bench/results/fresh.json'), 'utf8')) as FreshMeta & { results: Record<string, Figure> }

  it('the committed results fill every row', () => {
    expect(renderFresh(committed.results, committed).split('\n').filter((l) => l.includes('n/a'))).toEqual([])
  })

  it('judges throughput at 3× Yjs, low-load latency at or below Yjs\'s (both percentiles), CPU falling with nodes, memory at 3× JSON', () => {
    const md = (over: Record<string, number>) => renderFresh({ ...committed.results, ...Object.fromEntries(Object.entries(over).map(([k, v]) => [k, figure([v])])) }, committed).split('\n')
    const row = (lines: string[], text: string) => lines.find((l) => l.includes(text))!
    expect(row(md({ 'fresh.ratio.opsPerSec': 3 }), 'ratio, domainmesh ÷ Yjs (each run')).toContain('≥ 3: met')
    expect(row(md({ 'fresh.ratio.opsPerSec': 2.99 }), 'ratio, domainmesh ÷ Yjs (each run')).toContain('**not met**')
    expect(row(md({ 'fresh.ratio.lowP50': 1, 'fresh.ratio.lowP99': 1 }), 'run by run |')).toContain('≤ 1 both: met')
    expect(row(md({ 'fresh.ratio.lowP50': 0.5, 'fresh.ratio.lowP99': 1.01 }), 'run by run |')).toContain('**not met**')
    expect(row(md({ 'cpu.n3.mean': 50, 'cpu.n5.mean': 49 }), '| 5 nodes')).toContain(': met')
    expect(row(md({ 'cpu.n3.mean': 50, 'cpu.n5.mean': 50 }), '| 5 nodes')).toContain('**not met**')
    expect(row(md({ 'mem30.ratio': 3 }), 'the JSON of those objects')).toContain('≤ 3: met')
    expect(row(md({ 'mem30.ratio': 3.01 }), 'the JSON of those objects')).toContain('**not met**')
  })
})
