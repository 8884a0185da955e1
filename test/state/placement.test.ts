import { describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { domainOf, placeAll, placeDomain } from '../../src/topology/placement.js'
import type { View } from '../../src/topology/view.js'

const view = (names: string[], down: string[] = [], epoch = 1): View => ({
  epoch,
  members: names.map((n) => ({ nodeId: nodeId(n), status: down.includes(n) ? 'down' : 'up', engines: [] })),
})
const settings = { domainCount: 64, replicas: 2 }

describe('placement', () => {
  it('domainOf is stable, in range, and spreads keys', () => {
    const vs = virtualServerId('shop')
    expect(domainOf(vs, 'cart:1', 64)).toBe(domainOf(vs, 'cart:1', 64))
    const counts = new Array(64).fill(0)
    for (let i = 0; i < 6400; i++) counts[domainOf(vs, `k${i}`, 64)]++
    expect(Math.min(...counts)).toBeGreaterThan(50)
    expect(Math.max(...counts)).toBeLessThan(160)
  })

  it('gives every domain `replicas` distinct members, the same on every node', () => {
    const a = placeAll(view(['a', 'b', 'c', 'd', 'e']), settings)
    const b = placeAll(view(['e', 'd', 'c', 'b', 'a']), settings)
    expect(a).toEqual(b)
    for (const p of a) {
      expect(new Set(p.replicas).size).toBe(2)
      expect(p.primary).toBe(p.replicas[0])
    }
    const primaries = new Map<string, number>()
    for (const p of a) primaries.set(p.primary!, (primaries.get(p.primary!) ?? 0) + 1)
    expect(primaries.size).toBe(5)
    expect(Math.min(...primaries.values())).toBeGreaterThan(4)
  })

  it('when a member leaves, only the domains it held move', () => {
    const before = placeAll(view(['a', 'b', 'c', 'd']), settings)
    const after = placeAll(view(['a', 'b', 'c']), settings)
    for (let d = 0; d < 64; d++) {
      if (!before[d]!.replicas.includes(nodeId('d'))) expect(after[d]!.replicas).toEqual(before[d]!.replicas)
      else expect(after[d]!.replicas).toContain(before[d]!.replicas.find((n) => n !== 'd'))
    }
  })

  it('a down member keeps its slot, and the first live replica is primary', () => {
    const up = placeDomain(view(['a', 'b', 'c']), settings, 7)
    const down = placeDomain(view(['a', 'b', 'c'], [up.replicas[0]!]), settings, 7)
    expect(down.replicas).toEqual(up.replicas)
    expect(down.primary).toBe(up.replicas[1])
    const allDown = placeDomain(view(['a', 'b', 'c'], [...up.replicas]), settings, 7)
    expect(allDown.primary).toBeUndefined()
  })

  it('honours pinned domains', () => {
    const p = placeDomain(view(['a', 'b', 'c']), { ...settings, pins: { 3: [nodeId('c'), nodeId('a')] } }, 3)
    expect(p.replicas).toEqual(['c', 'a'])
    expect(p.primary).toBe('c')
  })
})
