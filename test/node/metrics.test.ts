import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId } from '../../src/ids.js'
import { prometheusText, startMetricsServer, type MetricsServer } from '../../src/server/metrics-server.js'
import { StoreCluster } from '../helpers/store-cluster.js'

let c: StoreCluster | undefined
let server: MetricsServer | undefined
afterEach(async () => {
  await server?.close()
  await c?.close()
  server = c = undefined
})

describe('node metrics', () => {
  it('count messages, bytes, domains and objects', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2, domainCount: 16 })
    for (let i = 0; i < 20; i++) await c.node('a').store('shop').put(`k${i}`, { i })
    await c.settle()
    const all = ['a', 'b', 'c'].map((n) => c!.node(n).metrics())
    expect(all.reduce((s, m) => s + m.objects, 0)).toBe(40)
    expect(all.reduce((s, m) => s + m.domainsPrimary, 0)).toBe(16)
    expect(all.reduce((s, m) => s + m.domainsBackup, 0)).toBe(16)
    expect(all[0]!.envelopesOut).toBeGreaterThan(0)
    expect(all[0]!.bytesOut).toBeGreaterThan(0)
    expect(all[0]!.peers.sort()).toEqual(['b', 'c'])
    expect(await c.node('a').ping(c.node('b').nodeId)).toBeGreaterThanOrEqual(0)
    // Each write is one log entry on each of its two owners; few objects per domain stay decoded.
    expect(all.reduce((s, m) => s + m.logEntries, 0)).toBe(40)
    expect(all.reduce((s, m) => s + m.encodedBytes, 0)).toBe(0)
  })

  it('count the bytes of objects kept encoded once a domain holds more than the decoded ones', async () => {
    c = await StoreCluster.start(['a', 'b'], { replicas: 2, domainCount: 1 })
    for (let i = 0; i < 100; i++) await c.node('a').store('shop').put(`k${i}`, { i, name: `object ${i}` })
    await c.settle()
    // 64 stay decoded, 36 are records of ~30 bytes each, on each node.
    for (const n of ['a', 'b']) expect(c.node(n).metrics().encodedBytes).toBeGreaterThan(36 * 20)
    expect(await c.node('b').store('shop').get('k0')).toEqual({ i: 0, name: 'object 0' })
  })

  it('are served as Prometheus text, JSON and health on 127.0.0.1', async () => {
    c = await StoreCluster.start(['a', 'b'])
    server = await startMetricsServer(c.node('a'), 0, { figures: () => ({ memoryTrims: 3 }) })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toContain('# TYPE domainmesh_domains_primary gauge')
    expect(text).toMatch(/domainmesh_peers\{node="a"\} 1/)
    expect(text.startsWith(prometheusText(c.node('a').metrics()))).toBe(true)
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m)
    const json = (await (await fetch(`${server.url}/metrics.json`)).json()) as { objects: number; process: { rssBytes: number; memoryTrims: number } }
    expect(json.objects).toBe(c.node('a').metrics().objects)
    expect(json.process.rssBytes).toBeGreaterThan(1_000_000)
    expect(json.process.memoryTrims).toBe(3)
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ safe: true })
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
  })

  it("serve a node's own copy of a key on /local: owners hold it, a non-owner says it holds none", async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2, domainCount: 16 })
    await c.node('a').store('shop').put('k1', { n: 1 })
    await c.settle()
    const roles = c.node('a').state.placement(c.node('a').state.domainOf(virtualServerId('shop'), 'k1'))
    for (const n of ['a', 'b', 'c']) {
      const s = await startMetricsServer(c.node(n), 0)
      try {
        const got = await (await fetch(`${s.url}/local?vs=shop&key=k1`)).json()
        const owner = roles.owners.includes(n as never)
        expect(got).toMatchObject({ node: n, held: owner, found: owner, value: owner ? { n: 1 } : null, primary: roles.primary, owners: [...roles.owners] })
        expect(await (await fetch(`${s.url}/local?vs=shop&key=nothing-here`)).json()).toMatchObject({ found: false, value: null })
      } finally {
        await s.close()
      }
    }
  })
})
