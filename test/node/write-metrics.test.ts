/** The write-latency histogram and per-domain replication lag, as /metrics serves them (issue 36 item 3). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { prometheusText } from '../../src/server/metrics-server.js'
import { StoreCluster } from '../helpers/store-cluster.js'

let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('write metrics', () => {
  it('every acknowledged write is counted once, by the primary that committed it, in cumulative buckets', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2, domainCount: 8 })
    for (let i = 0; i < 30; i++) await c.node(i % 2 ? 'a' : 'b').store('shop').put(`k${i}`, { i })
    const all = ['a', 'b', 'c'].map((n) => c!.node(n).metrics())
    expect(all.reduce((s, m) => s + m.writeLatencyMs.count, 0)).toBe(30)
    for (const m of all) {
      const counts = m.writeLatencyMs.buckets.map(([, n]) => n)
      expect(counts).toEqual([...counts].sort((x, y) => x - y))
      expect(counts.at(-1)).toBeLessThanOrEqual(m.writeLatencyMs.count)
    }
    const a = c.node('a').metrics()
    const text = prometheusText(a)
    expect(text).toContain('# TYPE domainmesh_write_duration_seconds histogram')
    expect(text).toContain(`domainmesh_write_duration_seconds_bucket{node="a",le="0.001"} ${a.writeLatencyMs.buckets[0]![1]}`)
    expect(text).toContain(`domainmesh_write_duration_seconds_bucket{node="a",le="+Inf"} ${a.writeLatencyMs.count}`)
    expect(text).toContain(`domainmesh_write_duration_seconds_count{node="a"} ${a.writeLatencyMs.count}`)
    // At rest every backup has acknowledged everything: each domain a leads shows 0.
    expect(Object.keys(a.replicationLag)).toHaveLength(a.domainsPrimary)
    expect(Object.values(a.replicationLag).every((n) => n === 0)).toBe(true)
    expect(text).toMatch(/^domainmesh_replication_lag_entries\{node="a",domain="\d+"\} 0$/m)
  })

  it('a backup cut off from its primary shows as replication lag on the domains it misses, and catches up', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3, domainCount: 4, store: { writeAcks: 1 } })
    const a = c.node('a')
    const led = a.state.domains().filter((d) => d.role === 'primary').map((d) => d.domain)
    expect(led.length).toBeGreaterThan(0)
    const key = [...Array(200).keys()].map((i) => `k${i}`).find((k) => led.includes(a.state.domainOf(a.store('shop').virtualServerId, k)))!
    const domain = a.state.domainOf(a.store('shop').virtualServerId, key)
    c.net.partition([nodeId('a')], [nodeId('c')])
    for (let i = 0; i < 5; i++) await a.store('shop').put(key, { i })
    expect(a.metrics().replicationLag[domain]).toBe(5)
    expect(prometheusText(a.metrics())).toContain(`domainmesh_replication_lag_entries{node="a",domain="${domain}"} 5`)
    c.net.heal()
    await c.settle()
    expect(a.metrics().replicationLag[domain]).toBe(0)
  })

  it('the Grafana dashboard in deploy/ asks only for metrics a node serves', async () => {
    c = await StoreCluster.start(['a', 'b'], { replicas: 2, domainCount: 4 })
    await c.node('a').store('shop').put('k', { n: 1 })
    const served = new Set([...prometheusText(c.node('a').metrics()).matchAll(/^(domainmesh_\w+?)(?:_bucket|_sum|_count)?[{ ]/gm)].map((m) => m[1]))
    const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '../../deploy/grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] }
    const asked = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/domainmesh_\w+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))))
    expect(asked).toContain('domainmesh_write_duration_seconds')
    expect(asked).toContain('domainmesh_replication_lag_entries')
    for (const name of asked) expect(served, name).toContain(name)
  })
})
