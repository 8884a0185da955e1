/**
 * What the end-to-end tests run against: a topology service, optional Node peers (real
 * processes), the demo's auth endpoint and the demo served by vite. Member tabs join with
 * ?mode=member&topology=…&secret=…&node=…; client tabs (the demo's default) with
 * ?topology=…&auth=…&user=…, a token from the auth endpoint and no secret.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { createServer, type ViteDevServer } from 'vite'
import { generateClientKeys, startTopologyServer, type ClientKeys, type TopologyServer } from '../../src/node.js'
import { spawnPeer, type PeerProcess } from '../helpers/processes.js'
import { startAuthServer, type AuthServer } from '../../demo/auth-server.js'

export const SECRET = 'e2e-cluster-secret'

export class E2eCluster {
  topology!: TopologyServer
  vite!: ViteDevServer
  demoUrl!: string
  dir!: string
  keys!: ClientKeys
  auth!: AuthServer
  readonly peers = new Map<string, PeerProcess>()
  private topologyStopped = false
  /** Console errors a test expects (the browser's own, e.g. a refused WebSocket once the service is gone). */
  readonly expectedConsoleErrors: RegExp[] = []

  /** `heartbeatMs` (default 250): longer where many tabs load the machine and would starve the peers' heartbeats. */
  static async start(healDelayMs: number, { heartbeatMs = 250 }: { heartbeatMs?: number } = {}): Promise<E2eCluster> {
    const c = new E2eCluster()
    c.dir = await mkdtemp(join(tmpdir(), 'dm-e2e-'))
    c.keys = await generateClientKeys()
    c.auth = await startAuthServer({ privateKey: c.keys.privateKey, clusterId: 'it' })
    c.topology = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 16, replicas: 2 }, healDelayMs, heartbeatMs, clientAuth: { publicKey: c.keys.publicKeyPem } })
    c.vite = await createServer({ configFile: join(import.meta.dirname, '../../vite.config.ts'), server: { port: 0, host: '127.0.0.1' }, logLevel: 'warn' })
    await c.vite.listen()
    c.demoUrl = c.vite.resolvedUrls!.local[0]!
    return c
  }

  async startPeer(name: string): Promise<PeerProcess> {
    const p = await spawnPeer(name, join(this.dir, name), this.topology.url, SECRET, undefined, { DOMAINMESH_CLIENT_KEY: this.keys.publicKeyPem })
    this.peers.set(name, p)
    return p
  }

  /** A member tab: node `node`, with the cluster secret. */
  url(node: string): string {
    return `${this.demoUrl}?mode=member&topology=${encodeURIComponent(this.topology.url)}&cluster=it&secret=${SECRET}&node=${node}`
  }

  /** A client tab (the demo's default mode) of demo user `user`: no secret, a token from the auth endpoint. */
  clientUrl(user: string, base = this.demoUrl): string {
    return `${base}?topology=${encodeURIComponent(this.topology.url)}&cluster=it&auth=${encodeURIComponent(this.auth.url)}&user=${user}`
  }

  /** Stops the topology service alone (what Ctrl-C of `npm start` does to the open tabs' view). */
  async stopTopology(): Promise<void> {
    this.topologyStopped = true
    await this.topology.close()
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) await p.kill('SIGTERM')
    await this.vite.close()
    await this.auth.close()
    if (!this.topologyStopped) await this.topology.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** Opens the demo as node `id`; fails the test on any console error. */
export async function openTab(page: Page, cluster: E2eCluster, id: string): Promise<Page> {
  page.on('console', (m) => {
    if (m.type() === 'error' && !cluster.expectedConsoleErrors.some((r) => r.test(m.text()))) throw new Error(`console error in ${id}: ${m.text()}`)
  })
  page.on('pageerror', (e) => {
    throw new Error(`page error in ${id}: ${e.message}`)
  })
  await page.goto(cluster.url(id))
  await page.waitForFunction((nid) => document.getElementById('me')?.textContent?.includes(`node ${nid}`), id, { timeout: 20_000 })
  return page
}

/** Opens the demo as a client tab of `user`; fails the test on any console error. */
export async function openClientTab(page: Page, cluster: E2eCluster, user: string, base?: string): Promise<Page> {
  page.on('console', (m) => {
    if (m.type() === 'error' && !cluster.expectedConsoleErrors.some((r) => r.test(m.text()))) throw new Error(`console error in ${user}: ${m.text()}`)
  })
  page.on('pageerror', (e) => {
    throw new Error(`page error in ${user}: ${e.message}`)
  })
  await page.goto(cluster.clientUrl(user, base))
  await page.waitForFunction((u) => document.getElementById('me')?.textContent?.includes(`of user ${u} `), user, { timeout: 30_000 })
  return page
}

/** Runs code against the tab's client (window.domainmesh.client()). */
export function inClient<T>(page: Page, fn: string): Promise<T> {
  return page.evaluate(`(async () => { const client = window.domainmesh.client(); ${fn} })()`) as Promise<T>
}

/** Runs code against the tab's node (window.domainmesh). */
export function inTab<T>(page: Page, fn: string): Promise<T> {
  return page.evaluate(`(async () => { const node = window.domainmesh.node(); ${fn} })()`) as Promise<T>
}

/** Waits until the tab sees `members` members up and its node leads only fully replicated domains. */
export async function settled(page: Page, members: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const node = (window as unknown as { domainmesh: { node(): { topology: { view(): { members: { status: string }[] } }; health(): { safe: boolean }; transport: { peers(): unknown[] } } | undefined } }).domainmesh.node()
      if (!node) return false
      const view = node.topology.view()
      return view.members.length === n && view.members.every((m) => m.status === 'up') && node.health().safe && node.transport.peers().length === n - 1
    },
    members,
    { timeout: 60_000, polling: 100 },
  )
}
