/**
 * The demo in real Chromium: tabs are nodes (IndexedDB + WebRTC), alone and mixed with Node
 * peers. One browser context, so IndexedDB survives closing and reopening a tab. Screenshots of
 * the main states go to test-results/screenshots/ for reviewers.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test'
import { E2eCluster, inTab, openTab, settled } from './cluster.js'

const HEAL_DELAY = 6000
const SHOTS = 'test-results/screenshots'

test.describe.configure({ mode: 'serial' })

let cluster: E2eCluster
let context: BrowserContext
const tabs = new Map<string, Page>()

test.beforeAll(async ({ browser }) => {
  cluster = await E2eCluster.start(HEAL_DELAY)
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
})

test.afterAll(async () => {
  await context?.close()
  await cluster?.stop()
})

async function tab(id: string): Promise<Page> {
  const page = await openTab(await context.newPage(), cluster, id)
  tabs.set(id, page)
  return page
}

const primaryOf = (page: Page, key: string) => inTab<string>(page, `return node.state.placement(node.state.domainOf('demo', ${JSON.stringify(key)})).primary`)

test('three tabs join as nodes; a write in one is read in the others', async () => {
  const [t1, t2, t3] = [await tab('t1'), await tab('t2'), await tab('t3')]
  for (const t of [t1, t2, t3]) await settled(t, 3)
  await t1.fill('#key', 'e2e:doc')
  await t1.fill('#json', '{ "title": "written in t1", "count": 1 }')
  await t1.click('#put')
  await expect(t1.locator('#wire')).toContainText('acknowledged at seq')
  for (const t of [t2, t3]) expect(await inTab(t, `return node.store('demo').get('e2e:doc')`)).toEqual({ title: 'written in t1', count: 1 })
  // One field changed through the editor: a sub-element patch, and its cost on the wire.
  await t1.fill('#path', 'count')
  await t1.fill('#value', '2')
  await t1.click('#patch-form button')
  await expect(t1.locator('#wire')).toContainText('patch /count: acknowledged')
  expect(await inTab(t3, `return node.store('demo').get('e2e:doc')`)).toEqual({ title: 'written in t1', count: 2 })
  // What a patch cost next to what a put of the whole object would have.
  await expect(t1.locator('#wire')).toContainText(/this node sent \d+ B\. A put of the whole object would have sent about \d+ B\./)
  await expect(t1.locator('#members tbody tr')).toHaveCount(3)
  // Who is who: a letter and a colour per node in the legend, and each cell names its primary
  // and backup by letter without hovering.
  await expect(t1.locator('#legend-nodes li')).toHaveText([/^A t\d/, /^B t\d/, /^C t\d/])
  // Read in one evaluation, from the inline style the page sets: the legend is drawn anew every
  // second, and a chip replaced between finding it and reading it had no computed colour.
  const colours = await t1.evaluate(() => [...document.querySelectorAll<HTMLElement>('#legend-nodes .chip')].map((e) => e.style.background))
  expect(colours).toHaveLength(3)
  expect(new Set(colours).size).toBe(3)
  const labels = await t1.locator('#domain-map .cell .who').allTextContents()
  expect(labels).toHaveLength(16)
  for (const l of labels) expect(l).toMatch(/^[ABC]\+[ABC]$/)
  // t1's cell colours are those of the primaries the legend names.
  const first = await primaryOf(t1, 'e2e:doc')
  const d = await inTab<number>(t1, `return node.state.domainOf('demo', 'e2e:doc')`)
  const chip = await t1.locator('#legend-nodes li', { hasText: first }).locator('.chip').textContent()
  await expect(t1.locator(`#domain-map .cell[data-domain="${d}"] .who`)).toHaveText(new RegExp(`^${chip}\\+`))
  // The mesh: three members, three open channels, each reported by both ends.
  await expect(t1.locator('#mesh g.member')).toHaveCount(3)
  await expect(t1.locator('#mesh line.link:not(.half)')).toHaveCount(3, { timeout: 10_000 })
  await expect(t1.locator('#banner')).toBeHidden()
  await t1.screenshot({ path: `${SHOTS}/1-three-tabs.png`, fullPage: true })
})

test('closing the tab that is primary for a key: writes go on, no acked write is lost', async () => {
  const key = 'e2e:counter'
  const t1 = tabs.get('t1')!
  const victim = await primaryOf(t1, key)
  const writer = [...tabs].find(([id]) => id !== victim)![1]
  await inTab(writer, `await node.store('demo').put('${key}', { n: 0 }); return true`)
  await tabs.get(victim)!.close()
  tabs.delete(victim)
  const acked = await inTab<number[]>(
    writer,
    `const acked = []
     for (let n = 1; n <= 30; n++) {
       try { await node.store('demo').put('${key}', { n }); acked.push(n) } catch { await new Promise((r) => setTimeout(r, 100)) }
     }
     return acked`,
  )
  expect(acked.length).toBeGreaterThan(20)
  expect(await inTab(writer, `return node.store('demo').get('${key}')`)).toEqual({ n: acked[acked.length - 1] })
  await expect(writer.locator('#members')).toContainText('down')
  // How long until healing starts, counting down.
  const row = writer.locator(`#members tbody tr[data-node="${victim}"] td.down`)
  const secondsLeft = async () => Number(/healing in (\d+) s/.exec((await row.textContent()) ?? '')?.[1])
  await expect(row).toHaveText(/^down · healing in \d+ s$/)
  const early = await secondsLeft()
  expect(early).toBeLessThanOrEqual(HEAL_DELAY / 1000)
  await expect.poll(secondsLeft, { timeout: 5000 }).toBeLessThan(early)
  await writer.screenshot({ path: `${SHOTS}/2-primary-tab-closed.png`, fullPage: true })
  test.info().annotations.push({ type: 'victim', description: victim })
})

test('reopened within the heal delay, the tab restores from IndexedDB and catches up by deltas only', async () => {
  const victim = ['t1', 't2', 't3'].find((id) => !tabs.has(id))!
  const other = [...tabs.values()][0]!
  // Its replicas are still in IndexedDB while the tab is closed.
  const dbs = await other.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))
  expect(dbs).toContain(`domainmesh-it-${victim}`)
  const back = await tab(victim)
  await settled(back, 3)
  expect(await inTab(back, `return node.state.stats.snapshotsInstalled`)).toBe(0)
  const key = 'e2e:counter'
  const last = await inTab<{ n: number }>(other, `return node.store('demo').get('${key}')`)
  // Its own copy of the domain caught up with the writes it missed.
  await expect.poll(() => inTab(back, `return node.state.readLocal('demo', '${key}').obj?.value`), { timeout: 20_000 }).toEqual(last)
  await back.screenshot({ path: `${SHOTS}/3-reopened-within-delay.png`, fullPage: true })
})

test('a tab that stays closed past the delay: the domain map returns to full replication', async () => {
  const gone = tabs.get('t3')!
  await gone.close()
  tabs.delete('t3')
  const t1 = tabs.get('t1')!
  await expect(t1.locator('#domain-summary')).toContainText(/[1-9]\d* under-replicated/, { timeout: 10_000 })
  await t1.screenshot({ path: `${SHOTS}/4-under-replicated.png`, fullPage: true })
  await settled(t1, 2)
  await expect(t1.locator('#domain-summary')).toContainText(' 0 under-replicated', { timeout: 30_000 })
  await expect(t1.locator('#members tbody tr')).toHaveCount(2)
  expect(await inTab(t1, `return node.store('demo').get('e2e:doc')`)).toEqual({ title: 'written in t1', count: 2 })
  // The whole cluster's healing, not only this tab's copies.
  await expect(t1.locator('#cluster-healing-text')).toHaveText(/^healed: \d+ domain copies · \d+(\.\d)? k?B in [\d.]+ s/)
  await t1.screenshot({ path: `${SHOTS}/5-healed.png`, fullPage: true })
})

test('mixed cluster: browser tabs and Node peers in one mesh', async () => {
  await cluster.startPeer('p1')
  await cluster.startPeer('p2')
  const t1 = tabs.get('t1')!
  for (const t of tabs.values()) await settled(t, 4)
  // Writes from a tab land on Node peers too, and the peers hold their share. They run while the
  // domains move to the peers: a write whose primary handed its domain over just then may end
  // OutcomeUnknownError, and a put of the same value is safe to send again (README, errors).
  for (let i = 0; i < 40; i++) {
    await inTab(t1, `for (let a = 0; ; a++) { try { await node.store('demo').put('mixed:${i}', { i: ${i} }); return true } catch (e) { if (e.code !== 'OUTCOME_UNKNOWN' || a >= 3) throw e } }`)
  }
  await expect.poll(async () => (await cluster.peers.get('p1')!.metrics()).objects + (await cluster.peers.get('p2')!.metrics()).objects, { timeout: 20_000 }).toBeGreaterThan(0)
  // One mesh: each Node peer has a data channel to every other member, tabs included.
  for (const [name, others] of [['p1', ['p2', 't1', 't2']], ['p2', ['p1', 't1', 't2']]] as const) {
    await expect.poll(async () => (await cluster.peers.get(name)!.metrics()).peers.sort(), { timeout: 30_000 }).toEqual(others)
  }
  // The Node peers are durable members, the tabs ephemeral: once healed, the peers lead every domain.
  await expect(t1.locator('#members tbody tr', { hasText: 'p1' })).toContainText('durable')
  await expect(t1.locator('#members tbody tr', { hasText: 't2' })).toContainText('ephemeral')
  await expect
    .poll(() => inTab<string[]>(t1, `const out = new Set(); for (let d = 0; d < node.settings.domainCount; d++) out.add(String(node.state.placement(d).primary)); return [...out].sort()`), { timeout: 30_000 })
    .toEqual(['p1', 'p2'])
  // The mesh graph: four members, every pair with an open channel both ends report.
  await expect(t1.locator('#mesh g.member')).toHaveCount(4)
  await expect(t1.locator('#mesh line.link:not(.half)')).toHaveCount(6, { timeout: 20_000 })
  await expect(t1.locator('#mesh-summary')).toHaveText('6 open channels')
  await t1.screenshot({ path: `${SHOTS}/6-mixed-cluster.png`, fullPage: true })
})

test('a tab acting as a client keeps its sessions across the death of its serving Node peer', async () => {
  const t1 = tabs.get('t1')!
  await t1.selectOption('#serving', 'p1')
  await t1.click('#session-form button[type=submit]')
  await t1.click('#session-form button[type=submit]')
  await expect(t1.locator('#token')).toContainText('"primary": "p1"')
  await t1.click('#session-read')
  await expect(t1.locator('#session-status')).toContainText('2/2 sessions read and updated, served by p1')
  await cluster.peers.get('p1')!.kill('SIGKILL')
  cluster.peers.delete('p1')
  await t1.click('#session-read')
  await expect(t1.locator('#session-status')).toContainText('2/2 sessions read and updated', { timeout: 30_000 })
  await expect(t1.locator('#session-status')).not.toContainText('served by p1')
  await expect(t1.locator('#token')).not.toContainText('"primary": "p1"')
  expect(await t1.evaluate(() => (window as unknown as { domainmesh: { sessions: { ids: string[] } } }).domainmesh.sessions.ids.length)).toBe(2)
  await t1.screenshot({ path: `${SHOTS}/7-session-failover.png`, fullPage: true })
})

test('load 10,000 objects, then a Node peer dies: the page counts down to healing and shows the cluster healing them', async () => {
  const [t1, t2] = [tabs.get('t1')!, tabs.get('t2')!]
  for (const t of tabs.values()) await settled(t, 3)
  await t1.click('#bulk')
  await expect(t1.locator('#bulk-status')).toContainText('10,000 objects written in', { timeout: 120_000 })
  await cluster.peers.get('p2')!.kill('SIGKILL')
  cluster.peers.delete('p2')
  await expect(t1.locator('#members tbody tr[data-node="p2"] td.down')).toHaveText(/^down · healing in \d+ s$/, { timeout: 20_000 })
  await expect(t1.locator('#cluster-healing-text')).toContainText('p2 down · healing in')
  await t1.screenshot({ path: `${SHOTS}/9-peer-down-countdown.png`, fullPage: true })
  // Past the delay p2 leaves and its domains are copied again: the bar fills as the copies land,
  // with the count, bytes and rate beside it. Owner changes reach the views in batches, so the
  // copies may all land in one view and the bar go from empty to full: either state counts here,
  // and the healed line below checks the totals (the same 60 s as there).
  await t1.waitForFunction(
    () => {
      const bar = document.getElementById('cluster-healing') as HTMLProgressElement
      const text = document.getElementById('cluster-healing-text')!.textContent ?? ''
      return bar.value > 0 && ((bar.value < bar.max && /^healing: \d+\/\d+ domain copies done · /.test(text)) || (bar.value === bar.max && /^healed: /.test(text)))
    },
    undefined,
    { timeout: 60_000, polling: 'raf' },
  )
  await t1.screenshot({ path: `${SHOTS}/10-healing.png`, fullPage: true })
  await expect(t1.locator('#cluster-healing-text')).toHaveText(/^healed: \d+ domain copies · [\d.]+ (kB|MB) in [\d.]+ s \([\d.]+ (B|kB|MB)\/s\)$/, { timeout: 60_000 })
  const bar = await t1.locator('#cluster-healing').evaluate((e) => [(e as HTMLProgressElement).value, (e as HTMLProgressElement).max])
  expect(bar[0]).toBe(bar[1])
  expect(bar[1]).toBeGreaterThan(0)
  await expect(t1.locator('#domain-summary')).toContainText(' 0 under-replicated', { timeout: 30_000 })
  expect(await inTab(t2, `return node.store('demo').get('bulk:09999')`)).toMatchObject({ i: 9999 })
  await t1.screenshot({ path: `${SHOTS}/11-healed-after-load.png`, fullPage: true })
})

test('the page can stop its node and start it again; stopped, it says so and stays stopped across a reload', async () => {
  const [t1, t2] = [tabs.get('t1')!, tabs.get('t2')!]
  await t2.click('#stop')
  await expect(t2.locator('#me')).toHaveText('stopped')
  await expect(t2.locator('#banner')).toContainText('This node is stopped')
  await expect(t1.locator('#members')).toContainText(/t2\s*down/, { timeout: 20_000 })
  // vite's client reloads the page when `npm start` restarts: a stopped node must not rejoin.
  await t2.reload()
  await t2.waitForFunction(() => document.readyState === 'complete' && (window as unknown as { domainmesh?: unknown }).domainmesh !== undefined)
  await expect(t2.locator('#me')).toHaveText('stopped')
  expect(await t2.evaluate(() => (window as unknown as { domainmesh: { node(): unknown } }).domainmesh.node() === undefined)).toBe(true)
  await expect(t2.locator('#banner')).toContainText('stays stopped across reloads')
  await expect(t2.locator('#start')).toBeEnabled()
  await t2.click('#start')
  await expect(t2.locator('#me')).toContainText('this tab is node t2', { timeout: 20_000 })
  await expect(t1.locator('#members')).not.toContainText(/t2\s*down/, { timeout: 20_000 })
  expect(await inTab(t2, `return node.store('demo').get('e2e:doc')`)).toEqual({ title: 'written in t1', count: 2 })
})

test('works in a narrow window', async () => {
  const t1 = tabs.get('t1')!
  await t1.setViewportSize({ width: 390, height: 900 })
  expect(await t1.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true)
  await t1.screenshot({ path: `${SHOTS}/8-narrow.png`, fullPage: true })
  await t1.setViewportSize({ width: 1280, height: 900 })
})

test('when the topology service goes away, an open tab says its view is stale', async () => {
  const t1 = tabs.get('t1')!
  await expect(t1.locator('#banner')).toBeHidden()
  // Chromium logs each refused reconnect of the tabs' topology link as a console error.
  cluster.expectedConsoleErrors.push(/^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/' failed: .*ERR_CONNECTION_REFUSED$/)
  await cluster.stopTopology()
  await expect(t1.locator('#banner')).toContainText('Disconnected from the topology service', { timeout: 10_000 })
  await expect(t1.locator('#banner')).toContainText('may be stale')
  await t1.screenshot({ path: `${SHOTS}/12-stale-tab.png`, fullPage: true })
})
