/** node.events: the public surface for views, roles, healing progress and health. */
import { afterEach, describe, expect, it } from 'vitest'
import type { Health, NodeEvents } from '../../src/index.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('node.events', () => {
  it('tells the views, the roles a node takes over, each healing copy and each change of health', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 2, domainCount: 16, healDelayMs: 3000 })
    for (let k = 0; k < 40; k++) await c.run(c.node('a').store('shop').put(`k${k}`, { v: k }))
    const heard = new Map<string, { views: number[]; roles: NodeEvents['role-changed'][]; healing: NodeEvents['healing'][]; health: Health[] }>()
    for (const n of ['a', 'b', 'c']) {
      const mine = { views: [] as number[], roles: [] as NodeEvents['role-changed'][], healing: [] as NodeEvents['healing'][], health: [] as Health[] }
      heard.set(n, mine)
      const node = c.node(n)
      node.events.on('view', ({ view }) => mine.views.push(view.epoch))
      node.events.on('role-changed', (e) => mine.roles.push(e))
      node.events.on('healing', (step) => mine.healing.push(step))
      node.events.on('health', ({ health }) => mine.health.push(health))
    }
    const before = c.node('a').topology.view().epoch
    c.crash('d')
    await c.settle(4000)
    await c.settleHealing()
    const all = [...heard.values()]
    for (const mine of all) {
      // d down, then d gone (and the owners the copies added): newer and newer epochs.
      expect(mine.views.length).toBeGreaterThanOrEqual(2)
      expect(mine.views[0]).toBeGreaterThan(before)
      expect(mine.views).toEqual([...mine.views].sort((x, y) => x - y))
      // Health is told only when it changes, and ends safe on every node.
      for (let i = 1; i < mine.health.length; i++) expect(mine.health[i]).not.toEqual(mine.health[i - 1])
      expect(mine.health.at(-1)).toMatchObject({ safe: true, underReplicated: [] })
    }
    // d led some domains: others took them over at the view that marked it down.
    const promoted = all.flatMap((m) => m.roles.filter((r) => r.role === 'primary'))
    expect(promoted.length).toBeGreaterThan(0)
    // While they ran on one copy, some node was not safe; the copies counted up to their total.
    expect(all.some((m) => m.health.some((h) => !h.safe))).toBe(true)
    const copies = all.filter((m) => m.healing.length > 0)
    expect(copies.length).toBeGreaterThan(0)
    for (const m of copies) {
      expect(m.healing.map((s) => s.domainsDone)).toEqual(m.healing.map((_, i) => i + 1))
      expect(m.healing.at(-1)!.domainsDone).toBe(m.healing.at(-1)!.domainsTotal)
    }
  })
})
