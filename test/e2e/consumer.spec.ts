/**
 * The package as a user gets it (issue 32), the half that runs inside the network namespace:
 * test/consumer/prepare.mjs (run by `npm test` before it enters the namespace) packed the package,
 * installed the tarball into .consumer/app and built examples/vite there with Vite and no shims.
 * Here the Node example runs from that install, the built browser example runs in two
 * Chromium tabs that exchange a write, and the consumer's own vitest runs the domainmesh/testing
 * suites (test/consumer/testing-entry.mjs) from the installed package.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer, type Server } from 'node:http'
import { extname, join, relative, sep } from 'node:path'
import { createInterface } from 'node:readline'
import { expect, test, type Browser } from '@playwright/test'

const APP = join(import.meta.dirname, '../../.consumer/app')

test.beforeAll(() => {
  if (!existsSync(join(APP, 'web/dist/index.html'))) throw new Error('no packed install in .consumer/app: run `node test/consumer/prepare.mjs` first (npm test does)')
})

/** Runs a process to its end; its output and exit code. */
function run(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  const p = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout.on('data', (d) => (out += String(d)))
  p.stderr.on('data', (d) => (out += String(d)))
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code, out })))
}

test('the installed package: the Node example (topology service and two nodes over WebRTC) writes and reads', async () => {
  const { code, out } = await run(['index.mjs'], join(APP, 'node'))
  expect(out).toMatch(/^ok \{"items":\["apple","pear"\],"total":5\}/m)
  expect(code).toBe(0)
})

test('the installed package: a plain install has no etcd client, and `domainmesh topology --etcd` says what to install', async () => {
  // etcd3 (and gRPC under it) is an optional peer dependency: an app that ships to browsers or runs
  // the embedded service does not download it.
  expect(existsSync(join(APP, 'node_modules/etcd3')), 'etcd3 installed by a plain npm install').toBe(false)
  // Run from a copy outside this repository: from .consumer/app, Node would find the repository's
  // own etcd3 (a dev dependency) further up. The build tools stay behind.
  const outside = mkdtempSync(join(tmpdir(), 'dm-consumer-'))
  try {
    const tools = new Set(['typescript', 'vite', 'vitest', '@vitest', 'rollup', '@rollup', 'esbuild', '@esbuild', 'rolldown', '@rolldown'])
    cpSync(join(APP, 'node_modules'), join(outside, 'node_modules'), { recursive: true, filter: (f) => !tools.has(relative(join(APP, 'node_modules'), f).split(sep)[0]!) })
    const { code, out } = await run([join(outside, 'node_modules/domainmesh/dist/cli/main.js'), 'topology', '--etcd', 'http://127.0.0.1:1', '--port', '0', '--secret', 'consumer-secret-01'], outside)
    expect(out).toContain('npm install etcd3 cockatiel')
    expect(code).not.toBe(0)
  } finally {
    rmSync(outside, { recursive: true, force: true })
  }
})

test('the installed package: domainmesh/testing runs the conformance suites and an in-memory cluster under the consumer\'s vitest', async () => {
  const { code, out } = await run([join(APP, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'vitest.config.mjs', '--reporter=dot'], join(APP, 'testing'))
  expect(out.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+17 passed \(17\)/)
  expect(code, out).toBe(0)
})

test('the installed package: the Vite-built example in two tabs, a note saved in one shows in the other', async ({ browser }) => {
  const topology = await startExample('web', 'topology.mjs', 1)
  const files = await serveDist(join(APP, 'web/dist'))
  try {
    const url = (node: string) => `${files.url}/?topology=${encodeURIComponent(topology.lines[0]!)}&node=${node}&members=2`
    await twoTabsShareANote(browser, url('tab-a'), url('tab-b'), /: ready$/, /: ready$/, 'written in tab a')
  } finally {
    files.server.close()
    await topology.stop()
  }
})

test('the installed package: the client example in two tabs (no secret in the page), a note saved in one shows in the other', async ({ browser }) => {
  const cluster = await startExample('web-client', 'server.mjs', 2)
  const dist = join(APP, 'web-client/dist')
  const files = await serveDist(dist)
  try {
    for (const f of readdirSync(join(dist, 'assets'))) expect(readFileSync(join(dist, 'assets', f), 'utf8')).not.toContain('example-secret')
    const [topologyUrl, authUrl] = cluster.lines as [string, string]
    const url = (user: string) => `${files.url}/?topology=${encodeURIComponent(topologyUrl)}&auth=${encodeURIComponent(authUrl)}&user=${user}`
    await twoTabsShareANote(browser, url('ann'), url('ben'), 'ann: connected', 'ben: connected', 'written by a client')
  } finally {
    files.server.close()
    await cluster.stop()
  }
})

/** Runs one of the installed examples' server scripts; resolves with the first `lines` lines it prints (its URLs). */
async function startExample(dir: string, script: string, lines: number): Promise<{ lines: string[]; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [script], { cwd: join(APP, dir), env: { ...process.env, PORT: '0', AUTH_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await gone
  }
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${script} exited (${code})`))))
  const got: string[] = []
  const enough = new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on('line', (l) => got.push(l) === lines && resolve()))
  try {
    await Promise.race([enough, exited])
  } catch (err) {
    await stop()
    throw err
  }
  return { lines: got, stop }
}

/** Serves a built app's files on loopback. */
async function serveDist(dist: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }
  const server = createServer((req, res) => {
    const path = join(dist, new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html'))
    if (!path.startsWith(dist) || !existsSync(path)) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }
}

/** Two tabs of an example app: both reach `status`, a note saved in the first shows in the second, no page error. */
async function twoTabsShareANote(browser: Browser, urlA: string, urlB: string, statusA: string | RegExp, statusB: string | RegExp, note: string): Promise<void> {
  const context = await browser.newContext()
  const [a, b] = [await context.newPage(), await context.newPage()]
  const errors: string[] = []
  for (const page of [a, b]) page.on('pageerror', (e) => errors.push(e.message))
  await a.goto(urlA)
  await b.goto(urlB)
  await expect(a.locator('#status')).toHaveText(statusA, { timeout: 30_000 })
  await expect(b.locator('#status')).toHaveText(statusB, { timeout: 30_000 })
  await a.fill('#text', note)
  await a.click('button')
  await expect(b.locator('#note')).toHaveText(note)
  expect(errors).toEqual([])
  await context.close()
}
