/**
 * Many client tabs against three Node members (issue 34): Chromium tabs in several browser
 * contexts, each a MeshClient of its own user (demo/tab.html, the demo's client without its
 * panels). Every tab writes and reads its own keys, hears and reads another tab's write, keeps at
 * most `maxLinks` RTCPeerConnections open, and no tab becomes a member.
 *
 * `npm test` runs DM_CLIENT_TABS (default 50) tabs; `npm run test:e2e:tabs` runs this file alone.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test'
import { E2eCluster } from './cluster.js'

const TABS = Number(process.env.DM_CLIENT_TABS ?? 50)
const PER_CONTEXT = 10
const MAX_LINKS = 2
const KEYS = 3

let cluster: E2eCluster
const contexts: BrowserContext[] = []
const tabs: { user: string; page: Page }[] = []

/** Counts the page's RTCPeerConnections that are not closed: what a tab really holds open. */
const COUNT_CONNECTIONS = `(() => {
  const Base = window.RTCPeerConnection
  const open = new Set()
  window.RTCPeerConnection = class extends Base {
    constructor(...args) {
      super(...args)
      open.add(this)
      this.addEventListener('connectionstatechange', () => { if (this.connectionState === 'closed') open.delete(this) })
    }
    close() { open.delete(this); super.close() }
  }
  window.openConnections = () => open.size
})()`

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000)
  // Heartbeats every second: with dozens of tabs starting, a 250 ms beat starves on two cores and
  // members are marked down for it.
  cluster = await E2eCluster.start(5000, { heartbeatMs: 1000 })
  await Promise.all(['p1', 'p2', 'p3'].map((p) => cluster.startPeer(p)))
  await expect.poll(() => cluster.topology.service.view().members.filter((m) => m.status === 'up').length, { timeout: 30_000 }).toBe(3)
  for (let c = 0; c < Math.ceil(TABS / PER_CONTEXT); c++) {
    const context = await browser.newContext()
    await context.addInitScript(COUNT_CONNECTIONS)
    contexts.push(context)
  }
})

test.afterAll(async () => {
  for (const c of contexts) await c.close()
  await cluster?.stop()
})

const run = <T>(page: Page, fn: string): Promise<T> => page.evaluate(`(async () => { const tab = window.tab; const client = tab.client; ${fn} })()`) as Promise<T>

test(`${TABS} client tabs in ${Math.ceil(TABS / PER_CONTEXT)} browser contexts: each writes and reads its own keys and sees another tab's write, through at most ${MAX_LINKS} links`, async () => {
  test.setTimeout(240_000)
  // Opened ten at a time: the tabs join while others are joining.
  for (let i = 0; i < TABS; i += PER_CONTEXT) {
    const batch = Array.from({ length: Math.min(PER_CONTEXT, TABS - i) }, (_, j) => i + j)
    await Promise.all(
      batch.map(async (n) => {
        const user = `u${String(n).padStart(3, '0')}`
        const page = await contexts[Math.floor(n / PER_CONTEXT)]!.newPage()
        page.on('pageerror', (e) => {
          throw new Error(`page error in ${user}: ${e.message}`)
        })
        await page.goto(`${cluster.clientUrl(user, `${cluster.demoUrl}tab.html`)}&maxLinks=${MAX_LINKS}`)
        tabs[n] = { user, page }
      }),
    )
  }
  for (const { user, page } of tabs) {
    await page.waitForFunction(() => (window as unknown as { tab?: { joinMs?: number; error?: string } }).tab?.joinMs !== undefined || (window as unknown as { tab?: { error?: string } }).tab?.error !== undefined, undefined, { timeout: 60_000 })
    expect(await run(page, 'return tab.error ?? null'), `${user} joined`).toBeNull()
  }
  expect(cluster.topology.service.clients.size).toBe(TABS)

  // Each tab listens to the next tab's key, then all write at once.
  const next = (i: number) => tabs[(i + 1) % TABS]!.user
  await Promise.all(tabs.map(({ page }, i) => run(page, `tab.heard = []; client.store('demo').subscribe('live:${next(i)}', (e) => tab.heard.push(e.change.value)); await client.store('demo').get('live:${next(i)}'); return true`)))
  await Promise.all(
    tabs.map(({ user, page }) =>
      run(page, `for (let k = 0; k < ${KEYS}; k++) await client.store('demo').put('tab:${user}:' + k, { user: '${user}', k }); await client.store('demo').put('live:${user}', { from: '${user}' }); return true`),
    ),
  )
  // Every tab hears the next one's write (a tab that does not: what its links went through).
  const deaf = async () => (await Promise.all(tabs.map(({ user, page }) => run<{ heard: number; links: string[] }>(page, 'return { heard: tab.heard.length, links: tab.links }').then((d) => ({ user, ...d }))))).filter((d) => d.heard === 0)
  await expect.poll(async () => (await deaf()).length, { timeout: 20_000 }).toBe(0).catch(async (err: unknown) => {
    throw new Error(`tabs that did not hear the next tab's write: ${JSON.stringify(await deaf(), null, 1)}`, { cause: err })
  })
  for (const [i, { user, page }] of tabs.entries()) {
    // Its own keys, read back from their primaries.
    const own = await run<unknown[]>(page, `const out = []; for (let k = 0; k < ${KEYS}; k++) out.push(await client.store('demo').get('tab:${user}:' + k)); return out`)
    expect(own).toEqual(Array.from({ length: KEYS }, (_, k) => ({ user, k })))
    // Another tab's write: heard through its subscription, and read.
    expect(await run(page, 'return tab.heard')).toEqual([{ from: next(i) }])
    expect(await run(page, `return client.store('demo').get('tab:${next(i)}:0')`)).toEqual({ user: next(i), k: 0 })
    // A handful of links: the client's count, and what the page really holds open.
    const links = await run<number>(page, 'return client.linkedMembers.length')
    expect(links).toBeGreaterThan(0)
    expect(links).toBeLessThanOrEqual(MAX_LINKS)
    expect(await page.evaluate(() => (window as unknown as { openConnections(): number }).openConnections())).toBeLessThanOrEqual(MAX_LINKS)
  }

  // No tab is a member: the views list the three Node peers only, and each member follows that view.
  const view = cluster.topology.service.view()
  expect(view.members.map((m) => m.nodeId).sort()).toEqual(['p1', 'p2', 'p3'])
  for (const p of cluster.peers.values()) expect((await p.health()).epoch).toBe(view.epoch)
})
