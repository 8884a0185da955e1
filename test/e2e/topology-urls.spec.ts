/**
 * The browser's side of a topology URL list, in real Chromium: a tab given two topology
 * instances over a real 3-member etcd (?topology=URL,URL) joins through the first, and when that
 * instance goes away it moves to the second and stays in the view, up.
 */
import { expect, test, type Page } from '@playwright/test'
import { createServer, type ViteDevServer } from 'vite'
import { join } from 'node:path'
import { startTopologyServer, type EtcdTopologyServer } from '../../src/node.js'
import { EtcdCluster, etcdAvailable, ETCD_MISSING } from '../helpers/etcd-cluster.js'

const SECRET = 'e2e-etcd-secret'
let etcd: EtcdCluster | undefined
let vite: ViteDevServer | undefined
const instances: (EtcdTopologyServer | undefined)[] = []

test.afterAll(async () => {
  for (const i of instances) await i?.close()
  await vite?.close()
  await etcd?.close()
})

const inTab = <T>(page: Page, fn: string) => page.evaluate(`(async () => { const node = window.domainmesh.node(); ${fn} })()`) as Promise<T>

test('a tab listing two instances over etcd moves to the second when the first goes, and stays up', async ({ browser }) => {
  if (!etcdAvailable()) throw new Error(ETCD_MISSING)
  etcd = await EtcdCluster.start(3)
  for (let i = 0; i < 2; i++) {
    instances.push(await startTopologyServer({ clusterId: 'eu', secret: SECRET, settings: { domainCount: 8, replicas: 1 }, heartbeatMs: 250, healDelayMs: 60_000, etcd: { hosts: etcd.urls, prefix: `e2e-${process.pid}`, leaseTtlSeconds: 2 } }))
  }
  vite = await createServer({ configFile: join(import.meta.dirname, '../../vite.config.ts'), server: { port: 0, host: '127.0.0.1' }, logLevel: 'warn' })
  await vite.listen()
  const urls = instances.map((i) => i!.url).join(',')
  const firstUrl = instances[0]!.url
  const page = await (await browser.newContext()).newPage()
  // Chromium reports the refused reconnect to the closed instance as a console error; nothing else may appear.
  const errors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes(firstUrl)) errors.push(m.text())
  })
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${vite.resolvedUrls!.local[0]}?mode=member&topology=${encodeURIComponent(urls)}&cluster=eu&secret=${SECRET}&node=tab1`)
  await page.waitForFunction(() => document.getElementById('me')?.textContent?.includes('node tab1'), undefined, { timeout: 20_000 })
  expect(instances[0]!.instance.nodes()).toEqual(['tab1'])
  const up = () => inTab<boolean>(page, `return node.topologyClient.connected && node.topology.view().members.some((m) => m.nodeId === 'tab1' && m.status === 'up')`)
  expect(await up()).toBe(true)
  const epoch = await inTab<number>(page, 'return node.topology.view().epoch')

  await instances[0]!.close()
  instances[0] = undefined
  await expect.poll(() => instances[1]!.instance.nodes(), { timeout: 20_000 }).toEqual(['tab1'])
  await expect.poll(async () => (await up()) && (await inTab<number>(page, 'return node.topology.view().epoch')) > epoch, { timeout: 20_000 }).toBe(true)
  const downs = await inTab<string[]>(page, `return node.topology.view().members.filter((m) => m.status === 'down').map((m) => m.nodeId)`)
  expect(downs).toEqual([])
  expect(errors).toEqual([])
})
