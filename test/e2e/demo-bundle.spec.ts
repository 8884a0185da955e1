/**
 * The demo's production bundle (issue 34): built with everything `npm start` knows in the
 * environment (the cluster secret, the app's private key, under the names it uses and under
 * VITE_ names, which vite hands to the page when code asks for them), it must hold neither; served
 * as static files, a tab opened with no query string is a client of the cluster, and a member tab
 * asks for the secret in its URL instead of finding one.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, extname, join } from 'node:path'
import { expect, test } from '@playwright/test'
import { exportJWK, exportPKCS8 } from 'jose'
import { E2eCluster, SECRET } from './cluster.js'

const ROOT = join(import.meta.dirname, '../..')

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

/** `vite build` of the demo into `outDir`, in a process of its own with `env`. */
function buildDemo(outDir: string, env: Record<string, string>): Promise<string> {
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite')), '../../bin/vite.js')
  const p = spawn(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout.on('data', (d) => (out += String(d)))
  p.stderr.on('data', (d) => (out += String(d)))
  return new Promise((resolve, reject) => p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`vite build exited ${code}: ${out}`)))))
}

let cluster: E2eCluster
let outDir: string
let files: Server | undefined

test.beforeAll(async () => {
  cluster = await E2eCluster.start(5000)
  // A client is welcomed with the first view, which needs a member.
  await cluster.startPeer('p1')
  outDir = await mkdtemp(join(tmpdir(), 'dm-demo-bundle-'))
})

test.afterAll(async () => {
  files?.close()
  await cluster?.stop()
  await rm(outDir, { recursive: true, force: true })
})

test('the built demo holds no secret and no private key; opened with no query string, a tab is a client', async ({ browser }) => {
  test.setTimeout(180_000)
  const privatePem = await exportPKCS8(cluster.keys.privateKey)
  const { d } = await exportJWK(cluster.keys.privateKey)
  await buildDemo(outDir, {
    // What npm start gives vite: where the service and the auth endpoint are.
    VITE_DM_TOPOLOGY: cluster.topology.url,
    VITE_DM_CLUSTER: 'it',
    VITE_DM_AUTH: cluster.auth.url,
    // What it must never hand to a page, here in the environment anyway.
    DOMAINMESH_SECRET: SECRET,
    VITE_DM_SECRET: SECRET,
    VITE_DM_CLIENT_PRIVATE_KEY: privatePem,
  })
  const emitted = filesUnder(outDir)
  expect(emitted.some((f) => f.endsWith('index.html'))).toBe(true)
  expect(emitted.some((f) => f.endsWith('.js'))).toBe(true)
  const pemBody = privatePem.split('\n').filter((l) => l && !l.startsWith('-----'))
  for (const f of emitted) {
    const text = readFileSync(f, 'latin1')
    // Booleans: a failure names the file without printing a megabyte of it.
    expect(text.includes(SECRET), `${f} holds the cluster secret`).toBe(false)
    // Any PEM private key, not only this one (jose's own code names the label, without a key after it).
    expect(/-----BEGIN [A-Z ]*PRIVATE KEY-----\s*[A-Za-z0-9+/]{32}/.test(text), `${f} holds a private key`).toBe(false)
    expect(pemBody.filter((line) => text.includes(line)), `${f} holds the private key`).toEqual([])
    expect(text.includes(d!), `${f} holds the private key (JWK d)`).toBe(false)
  }

  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }
  files = createServer((req, res) => {
    const path = join(outDir, new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html'))
    if (!path.startsWith(outDir) || !existsSync(path)) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path))
  })
  await new Promise<void>((resolve) => files!.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(files.address() as { port: number }).port}/`

  const context = await browser.newContext()
  const errors: string[] = []
  const page = await context.newPage()
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(base)
  await expect(page.locator('#me')).toContainText(/^this tab is client c-[0-9a-f]+ of user user-\w+ in cluster "it"$/, { timeout: 30_000 })
  await expect(page.locator('#mode')).toHaveText('client tab')
  expect(await page.evaluate(() => (window as unknown as { domainmesh: { mode: string } }).domainmesh.mode)).toBe('client')
  expect(cluster.topology.service.clients.size).toBe(1)
  expect(cluster.topology.service.view().members.map((m) => m.nodeId)).toEqual(['p1'])
  // A member tab of the same bundle has no secret to join with: it says where one goes.
  const memberTab = await context.newPage()
  await memberTab.goto(`${base}?mode=member`)
  await expect(memberTab.locator('#me')).toContainText('needs the cluster secret in its URL')
  expect(cluster.topology.service.view().members.map((m) => m.nodeId)).toEqual(['p1'])
  expect(errors).toEqual([])
  await context.close()
})
