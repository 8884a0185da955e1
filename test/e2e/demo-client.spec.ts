/**
 * The demo's default mode (issue 34): each tab a client of its own demo user, with a token from
 * the auth endpoint and no cluster secret, against three Node members. The editor, subscriptions
 * and sessions work through the client; the panels show what a client knows (the view it
 * follows and its own links), and no tab becomes a member.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test'
import { E2eCluster, SECRET, inClient, openClientTab } from './cluster.js'

const SHOTS = 'test-results/screenshots'

test.describe.configure({ mode: 'serial' })

let cluster: E2eCluster
let context: BrowserContext
let alice: Page
let bob: Page

test.beforeAll(async ({ browser }) => {
  cluster = await E2eCluster.start(5000)
  for (const p of ['p1', 'p2', 'p3']) await cluster.startPeer(p)
  await expect.poll(() => cluster.topology.service.view().members.filter((m) => m.status === 'up').length, { timeout: 30_000 }).toBe(3)
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
})

test.afterAll(async () => {
  await context?.close()
  await cluster?.stop()
})

test('a tab is a client of its user by default: it writes and reads through members, and another user sees the write', async () => {
  alice = await openClientTab(await context.newPage(), cluster, 'alice')
  bob = await openClientTab(await context.newPage(), cluster, 'bob')
  await expect(alice.locator('#mode')).toHaveText('client tab')
  expect(await alice.evaluate(() => (window as unknown as { domainmesh: { mode: string; node(): unknown } }).domainmesh.mode)).toBe('client')
  expect(await alice.evaluate(() => (window as unknown as { domainmesh: { node(): unknown } }).domainmesh.node() === undefined)).toBe(true)
  // Neither the page nor its URL carries the cluster secret.
  expect(alice.url()).not.toContain(SECRET)
  expect(await alice.content()).not.toContain(SECRET)

  await alice.fill('#key', 'client:doc')
  await alice.click('#load-form button')
  await alice.fill('#json', '{ "title": "written by alice", "count": 1 }')
  await alice.click('#put')
  await expect(alice.locator('#wire')).toContainText(/put: acknowledged at seq \d+ on 2 replicas; this tab sent \d+ B/)
  // Bob loads it, and his subscription follows Alice's patch into his editor.
  await bob.fill('#key', 'client:doc')
  await bob.click('#load-form button')
  await expect.poll(async () => JSON.parse(await bob.inputValue('#json'))).toEqual({ title: 'written by alice', count: 1 })
  await alice.fill('#path', 'count')
  await alice.fill('#value', '2')
  await alice.click('#patch-form button')
  await expect(alice.locator('#wire')).toContainText(/patch \/count: acknowledged at seq \d+ on 2 replicas; this tab sent \d+ B\. A put of the whole object would have sent about \d+ B\./)
  await expect.poll(async () => JSON.parse(await bob.inputValue('#json')), { timeout: 10_000 }).toEqual({ title: 'written by alice', count: 2 })
  // The members hold it: its two owners have the patched object.
  const copies = await Promise.all([...cluster.peers.values()].map(async (p) => (await fetch(`${p.metricsUrl}/local?vs=demo&key=client:doc`)).json() as Promise<{ found: boolean; value: unknown }>))
  expect(copies.filter((c) => c.found).map((c) => c.value)).toEqual([{ title: 'written by alice', count: 2 }, { title: 'written by alice', count: 2 }])
})

test('the panels show what a client knows: members, primaries and backups per domain, and its own links', async () => {
  await expect(alice.locator('#members tbody tr')).toHaveCount(3)
  await expect(alice.locator('#legend-nodes li')).toHaveText([/^A p1/, /^B p2/, /^C p3/])
  const labels = await alice.locator('#domain-map .cell .who').allTextContents()
  expect(labels).toHaveLength(16)
  for (const l of labels) expect(l).toMatch(/^[ABC]\+[ABC]$/)
  // Its links: in the members table and the mesh, never more than the cap.
  const linked = await inClient<string[]>(alice, 'return client.linkedMembers')
  expect(linked.length).toBeGreaterThan(0)
  expect(linked.length).toBeLessThanOrEqual(3)
  await expect(alice.locator('#mesh line.client-link')).toHaveCount(linked.length)
  await expect(alice.locator('#mesh-summary')).toHaveText(new RegExp(`^this tab: ${linked.length} links? \\(at most 3\\)$`))
  for (const m of linked) await expect(alice.locator(`#members tbody tr[data-node="${m}"] td`).last()).toHaveText('this tab')
  // What only a member knows is not shown: its own copies.
  await expect(alice.locator('#healing')).toBeHidden()
  await expect(alice.locator('#cluster-healing-text')).toHaveText('every domain has its copies')
  await expect(alice.locator('#banner')).toBeHidden()
  await alice.screenshot({ path: `${SHOTS}/13-client-tab.png`, fullPage: true })
})

test('sessions from a client tab, bound to its user', async () => {
  await alice.click('#session-form button[type=submit]')
  await expect(alice.locator('#token')).toContainText('"clientId": "alice:')
  await alice.click('#session-read')
  await expect(alice.locator('#session-status')).toContainText('1/1 sessions read and updated, served by p')
  // Bob's client cannot read Alice's session, even with her failover token.
  const token = await alice.evaluate(() => (window as unknown as { domainmesh: { sessions: { ids: string[] } } }).domainmesh.sessions.ids[0])
  const refused = await inClient<string>(
    bob,
    `const s = client.sessions({ virtualServer: 'demo' })
     try { await s.get(${JSON.stringify(token)}); return 'read' } catch (e) { return e.code }`,
  )
  expect(refused).toBe('FORBIDDEN')
})

test('no client tab is a member: the views list the three Node peers only, and each member follows that view', async () => {
  const view = cluster.topology.service.view()
  expect(view.members.map((m) => m.nodeId).sort()).toEqual(['p1', 'p2', 'p3'])
  for (const p of cluster.peers.values()) expect((await p.health()).epoch).toBe(view.epoch)
  expect(cluster.topology.service.clients.size).toBe(2)
})

test('a client tab stops and starts; stopped, it stays stopped across a reload', async () => {
  await bob.click('#stop')
  await expect(bob.locator('#me')).toHaveText('stopped')
  await expect(bob.locator('#banner')).toContainText('This client is stopped')
  await expect.poll(() => cluster.topology.service.clients.size).toBe(1)
  await bob.reload()
  await bob.waitForFunction(() => document.readyState === 'complete' && (window as unknown as { domainmesh?: unknown }).domainmesh !== undefined)
  await expect(bob.locator('#me')).toHaveText('stopped')
  await bob.click('#start')
  await expect(bob.locator('#me')).toContainText('of user bob ', { timeout: 20_000 })
  expect(await inClient(bob, `return client.store('demo').get('client:doc')`)).toEqual({ title: 'written by alice', count: 2 })
})
