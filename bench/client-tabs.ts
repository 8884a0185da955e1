/**
 * `npm run bench:tabs [-- --tabs 16,50,100 --runs 3 --seconds 5]`: client tabs (issue 34) in
 * Chromium against three Node members (real processes) and a topology service. Per run, a fresh
 * cluster; the tabs (demo/tab.html, the demo's MeshClient without its panels, built once with
 * vite and served as static files) open ten at a time, ten per browser context, each with a token
 * from the demo's auth endpoint. Reported per tab count, as the median of the runs with min–max:
 *
 *   join      a tab's time from start() to its first acknowledged write (the median tab, and the
 *             slowest, of the run); the tabs join while the others are loading and joining
 *   writes/s  all tabs writing their own keys for `--seconds`, one write at a time each
 *
 * and `/proc/loadavg` at the end of each run's writes (the machine's load: other jobs count).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { build } from 'vite'
import playwrightConfig from '../playwright.config.js'
import { generateClientKeys, startTopologyServer } from '../src/node.js'
import { spawnPeer, type PeerProcess } from '../test/helpers/processes.js'
import { startAuthServer } from '../demo/auth-server.js'

const ROOT = join(import.meta.dirname, '..')
const SECRET = 'bench-cluster-secret'
const PER_CONTEXT = 10
const MAX_LINKS = 3

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const SIZES = arg('tabs', '16,50,100').split(',').map(Number)
const RUNS = Number(arg('runs', '3'))
const SECONDS = Number(arg('seconds', '5'))

interface RunResult {
  tabs: number
  joinMedianMs: number
  joinMaxMs: number
  writesPerS: number
  writeErrors: number
  loadavg: string
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** demo/tab.html and its script, built as a production bundle into `dir`. */
async function buildTabPage(dir: string): Promise<void> {
  await build({ configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir: dir, emptyOutDir: true, rollupOptions: { input: join(ROOT, 'demo/tab.html') } } })
}

async function serveStatic(dir: string): Promise<{ url: string; server: Server }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }
  const server = createServer((req, res) => {
    const path = join(dir, new URL(req.url ?? '/', 'http://x').pathname)
    if (!path.startsWith(dir) || !existsSync(path)) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

async function oneRun(browser: Browser, pageBase: string, tabs: number): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-bench-tabs-'))
  const keys = await generateClientKeys()
  const auth = await startAuthServer({ privateKey: keys.privateKey, clusterId: 'it' })
  const topology = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 64, replicas: 2 }, clientAuth: { publicKey: keys.publicKeyPem } })
  const peers: PeerProcess[] = []
  const contexts: BrowserContext[] = []
  try {
    peers.push(...(await Promise.all(['p1', 'p2', 'p3'].map((p) => spawnPeer(p, join(dir, p), topology.url, SECRET, undefined, { DOMAINMESH_CLIENT_KEY: keys.publicKeyPem })))))
    for (let t = 0; ; t += 100) {
      if (topology.service.view().members.filter((m) => m.status === 'up').length === 3) break
      if (t > 30_000) throw new Error('the three members did not come up')
      await new Promise((r) => setTimeout(r, 100))
    }
    for (let c = 0; c < Math.ceil(tabs / PER_CONTEXT); c++) contexts.push(await browser.newContext())
    const pages: Page[] = []
    for (let i = 0; i < tabs; i += PER_CONTEXT) {
      const batch = Array.from({ length: Math.min(PER_CONTEXT, tabs - i) }, (_, j) => i + j)
      await Promise.all(
        batch.map(async (n) => {
          const page = await contexts[Math.floor(n / PER_CONTEXT)]!.newPage()
          await page.goto(`${pageBase}/tab.html?topology=${encodeURIComponent(topology.url)}&cluster=it&auth=${encodeURIComponent(auth.url)}&user=b${n}&maxLinks=${MAX_LINKS}`)
          pages[n] = page
        }),
      )
    }
    const joins: number[] = []
    for (const page of pages) {
      await page.waitForFunction(() => {
        const t = (window as unknown as { tab?: { joinMs?: number; error?: string } }).tab
        return t?.joinMs !== undefined || t?.error !== undefined
      }, undefined, { timeout: 120_000 })
      const t = (await page.evaluate(() => (window as unknown as { tab: { joinMs?: number; error?: string } }).tab)) as { joinMs?: number; error?: string }
      if (t.error !== undefined) throw new Error(`a tab did not join: ${t.error}`)
      joins.push(t.joinMs!)
    }
    // All tabs write for SECONDS from the same moment (one clock: one machine).
    const startAt = Date.now() + 1000
    const counts = await Promise.all(
      pages.map((page, n) =>
        page.evaluate(
          `(async () => {
            const s = window.tab.client.store('demo')
            while (Date.now() < ${startAt}) await new Promise((r) => setTimeout(r, 5))
            let ok = 0, failed = 0, i = 0
            while (Date.now() < ${startAt + SECONDS * 1000}) {
              try { await s.put('w:b${n}:' + (i++ % 20), { i }); ok++ } catch { failed++ }
            }
            return [ok, failed]
          })()`,
        ) as Promise<[number, number]>,
      ),
    )
    const loadavg = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
    const ok = counts.reduce((a, [o]) => a + o, 0)
    const failed = counts.reduce((a, [, f]) => a + f, 0)
    return { tabs, joinMedianMs: median(joins), joinMaxMs: Math.max(...joins), writesPerS: ok / SECONDS, writeErrors: failed, loadavg }
  } finally {
    for (const c of contexts) await c.close()
    for (const p of peers) await p.kill('SIGTERM')
    await topology.close()
    await auth.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const fmt = (xs: number[], digits = 0): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`

async function main(): Promise<void> {
  const out = await mkdtemp(join(tmpdir(), 'dm-bench-tab-page-'))
  await buildTabPage(out)
  const { url, server } = await serveStatic(out)
  const launch = playwrightConfig.use?.launchOptions ?? {}
  const browser = await chromium.launch({ ...launch, headless: true })
  const results: RunResult[] = []
  try {
    for (const tabs of SIZES) {
      for (let r = 0; r < RUNS; r++) {
        const res = await oneRun(browser, url, tabs)
        results.push(res)
        console.log(`${tabs} tabs, run ${r + 1}/${RUNS}: join median ${res.joinMedianMs.toFixed(0)} ms, slowest ${res.joinMaxMs.toFixed(0)} ms; ${res.writesPerS.toFixed(0)} writes/s (${res.writeErrors} failed); loadavg ${res.loadavg}`)
      }
    }
  } finally {
    await browser.close()
    server.close()
    await rm(out, { recursive: true, force: true })
  }
  console.log(`\n${SIZES.length} sizes × ${RUNS} runs, ${SECONDS} s of writes each, maxLinks ${MAX_LINKS}, 3 Node members, 64 domains × 2 replicas; median (min–max) of the runs\n`)
  console.log('| client tabs | join: median tab, ms | join: slowest tab, ms | writes/s, all tabs | failed writes | /proc/loadavg after each run |')
  console.log('|---|---|---|---|---|---|')
  for (const tabs of SIZES) {
    const rs = results.filter((r) => r.tabs === tabs)
    console.log(`| ${tabs} | ${fmt(rs.map((r) => r.joinMedianMs))} | ${fmt(rs.map((r) => r.joinMaxMs))} | ${fmt(rs.map((r) => r.writesPerS))} | ${rs.map((r) => r.writeErrors).join(', ')} | ${rs.map((r) => r.loadavg).join('; ')} |`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
