/**
 * The browser: 3 Chromium tabs (each its own browser context, so no BroadcastChannel between
 * them) as domainmesh members on IndexedDB (or memory), against 3 tabs with Yjs + y-webrtc, with
 * y-indexeddb (or without), the same fresh-cluster workload (workload.ts) as fresh.ts: new tabs
 * per run, the first `ops` random changes from tab 1, counted when every tab's copy has applied
 * them; then low-load one-way latency, one change every 5 ms. Run inside the private network
 * namespace (npm run bench:browser, or the `browser` part of npm run bench); a full run writes
 * bench/results/browser.json and browser.md (browser-report.ts).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { chromium, type Browser, type Page } from '@playwright/test'
import { createServer } from 'vite'
import { startTopologyServer } from '../src/node.js'
import { domainRoles } from '../src/topology/placement.js'
import { freePort } from '../test/helpers/processes.js'
import { LineProcess } from './line-process.js'
import { fmt, percentile } from './stats.js'
import { renderBrowser, SYSTEMS, type BrowserResult, type BrowserRuns } from './browser-report.js'
import type { Plan } from './workload.js'

const { values } = parseArgs({ options: { runs: { type: 'string' }, ops: { type: 'string' } } })
const RUNS = Number(values.runs ?? 5)
const OPS = Number(values.ops ?? 20_000)
const PACED = 200
const SECRET = 'bench-secret-0123'
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const log = (msg: string) => console.log(`[bench:browser ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type W = { bench: { ready(): Promise<void>; fill(o: number, f: number): Promise<void>; track(p: Plan, times?: boolean): void; done(): Promise<{ at: number; times?: Record<number, number> }>; size(): number; persisted(): Promise<number>; write(p: Plan, gapMs?: number): Promise<{ t0: number; loopEnd: number; settledAt: number; sent?: Record<number, number>; errors: number }> } }

type Result = BrowserResult

/** `durable`: how the burst is known to be in every tab's IndexedDB (see BrowserResult.durableOpsPerSec). */
async function drive(pages: Page[], plan: Plan, durable: 'acks' | 'tabs' | 'none'): Promise<Result> {
  await Promise.all(pages.map((p) => p.evaluate((pl) => (window as unknown as W).bench.track(pl), plan)))
  const applied = pages.map((p) => p.evaluate(() => (window as unknown as W).bench.done()))
  const written = await pages[0]!.evaluate((pl) => (window as unknown as W).bench.write(pl), plan)
  if (written.errors) throw new Error(`${written.errors} changes failed`)
  const done = Math.max(...(await Promise.all(applied)).map((a) => a.at))
  const persisted = durable === 'acks' ? written.settledAt : durable === 'tabs' ? Math.max(...(await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as W).bench.persisted()))))) : NaN
  await sleep(1000)
  const low: Plan = { ...plan, seed: plan.seed + 1, base: plan.base + plan.ops, ops: PACED }
  const others = pages.slice(1)
  await Promise.all(others.map((p) => p.evaluate((pl) => (window as unknown as W).bench.track(pl, true), low)))
  const arrivals = others.map((p) => p.evaluate(() => (window as unknown as W).bench.done()))
  const paced = await pages[0]!.evaluate((pl) => (window as unknown as W).bench.write(pl, 5), low)
  const oneWay: number[] = []
  for (const a of await Promise.all(arrivals)) for (const [n, t] of Object.entries(a.times!)) oneWay.push(t - paced.sent![Number(n)]!)
  oneWay.sort((a, b) => a - b)
  return { opsPerSec: plan.ops / ((done - written.t0) / 1000), lowP50: percentile(oneWay, 50), lowP99: percentile(oneWay, 99), loopMs: written.loopEnd - written.t0, doneMs: done - written.t0, durableOpsPerSec: plan.ops / ((persisted - written.t0) / 1000) }
}

async function open(browser: Browser, url: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  page.on('pageerror', (e) => console.error(`[tab] ${e.message}`))
  await page.goto(url)
  await page.waitForFunction(() => document.title === 'ready')
  return { page, close: () => ctx.close() }
}

async function domainmesh(browser: Browser, base: string, run: number, storage: 'idb' | 'memory', plan: Plan): Promise<Result> {
  const server = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 64, replicas: 3 } })
  const tabs: { page: Page; close: () => Promise<void> }[] = []
  try {
    for (const n of ['b1', 'b2', 'b3']) tabs.push(await open(browser, `${base}?sys=dm&node=${n}&run=${run}-${Date.now()}&storage=${storage}&topology=${encodeURIComponent(server.url)}&secret=${SECRET}`))
    await Promise.all(tabs.map((t) => t.page.evaluate(() => (window as unknown as W).bench.ready())))
    const deadline = Date.now() + 60_000
    for (let since = Date.now(), last = ''; ; await sleep(100)) {
      const view = server.service.view()
      const ok = view.members.filter((m) => m.status === 'up').length === 3 && Array.from({ length: 64 }, (_, d) => domainRoles(view, { domainCount: 64, replicas: 3 }, d)).every((r) => r.healing.length === 0 && r.owners.length === 3 && r.primary !== undefined)
      if (`${ok} ${view.epoch}` !== last) (last = `${ok} ${view.epoch}`), (since = Date.now())
      if (ok && Date.now() - since >= 1500) break
      if (Date.now() > deadline) throw new Error('browser cluster did not settle')
    }
    await tabs[0]!.page.evaluate(([o, f]) => (window as unknown as W).bench.fill(o!, f!), [plan.objects, plan.fields])
    return await drive(tabs.map((t) => t.page), plan, storage === 'idb' ? 'acks' : 'none')
  } finally {
    for (const t of tabs) await t.close()
    await server.close()
  }
}

/** `run`: y-indexeddb in a database of its own per tab and run; undefined: no persistence. */
async function yjs(browser: Browser, base: string, plan: Plan, run?: number): Promise<Result> {
  const port = await freePort()
  const server = new LineProcess([join(import.meta.dirname, '..', 'node_modules', 'y-webrtc', 'bin', 'server.js')], { PORT: String(port) })
  const tabs: { page: Page; close: () => Promise<void> }[] = []
  try {
    await sleep(500)
    const room = `bench-${port}`
    for (const n of ['y1', 'y2', 'y3']) {
      const db = run === undefined ? '' : `&db=${encodeURIComponent(`bench-${n}-${run}-${Date.now()}`)}`
      tabs.push(await open(browser, `${base}?sys=yjs&node=${n}&room=${room}&signaling=${encodeURIComponent(`ws://127.0.0.1:${port}`)}${db}`))
      await sleep(1500) // one at a time: two tabs announcing at once both dial (y-webrtc's glare)
    }
    await Promise.all(tabs.map((t) => t.page.evaluate(() => (window as unknown as W).bench.ready())))
    await tabs[0]!.page.evaluate(([o, f]) => (window as unknown as W).bench.fill(o!, f!), [plan.objects, plan.fields])
    for (const t of tabs) await t.page.waitForFunction((o) => (window as unknown as W).bench.size() >= o, plan.objects, { timeout: 60_000 })
    return await drive(tabs.map((t) => t.page), plan, run === undefined ? 'none' : 'tabs')
  } finally {
    for (const t of tabs) await t.close()
    server.kill()
  }
}

const vite = await createServer({ root: join(import.meta.dirname, 'browser'), configFile: false, server: { port: 0, host: '127.0.0.1' }, logLevel: 'warn' })
await vite.listen()
const base = vite.resolvedUrls!.local[0]!
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'] })
const loadBefore = loadavg()
const rs: BrowserRuns = { idb: [], yjsIdb: [], memory: [], yjs: [] }
try {
  for (let i = 0; i < RUNS; i++) {
    const plan: Plan = { seed: 2000 + i, base: 0, ops: OPS, objects: 1000, fields: 20 }
    for (const k of SYSTEMS) {
      const r = k === 'yjs' ? await yjs(browser, base, plan) : k === 'yjsIdb' ? await yjs(browser, base, plan, i) : await domainmesh(browser, base, i, k, plan)
      rs[k].push(r)
      log(`${k}: ${fmt(r.opsPerSec)} changes/s (${fmt(r.durableOpsPerSec)} until on disk in every tab), low-load one-way p50 ${fmt(r.lowP50, 2)} / p99 ${fmt(r.lowP99, 2)} ms; the writer's loop ${fmt(r.loopMs)} of ${fmt(r.doneMs)} ms; load ${loadavg()}`)
    }
  }
} finally {
  await browser.close()
  await vite.close()
}
const meta = { at: new Date().toISOString(), runs: RUNS, ops: OPS, loadBefore, loadAfter: loadavg() }
const md = renderBrowser(meta, rs)
console.log(md)
// A full run (the defaults) is the one kept: its runs (test/bench renders them again) and the table.
if (RUNS >= 5 && OPS === 20_000) {
  await writeFile(join(import.meta.dirname, 'results', 'browser.json'), `${JSON.stringify({ ...meta, results: rs }, null, 1)}\n`)
  await writeFile(join(import.meta.dirname, 'results', 'browser.md'), md)
}
process.exit(0)
