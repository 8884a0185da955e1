import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import type { MemberInfo } from '../../src/routing/engine.js'
import { domainOf, domainRoles, placeAll, placeDomain } from '../../src/topology/placement.js'
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

/** Members as (name, durable, down). */
type Spec = { name: string; durable: boolean; down: boolean }
const mixed = (specs: readonly Spec[], owners?: Record<number, NodeId[]>): View => ({
  epoch: 1,
  members: specs.map((m): MemberInfo => ({ nodeId: nodeId(m.name), status: m.down ? 'down' : 'up', engines: [], ...(m.durable ? { durable: true } : {}) })),
  ...(owners ? { owners } : {}),
})
const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'n1', 'n2', 'tab-1', 'tab-2']
/** 1 to 9 distinct members, each durable or not, up or down. */
const specsArb = fc.uniqueArray(fc.record({ name: fc.constantFrom(...names), durable: fc.boolean(), down: fc.boolean() }), { minLength: 1, maxLength: 9, selector: (m) => m.name })
const settingsArb = fc.record({ domainCount: fc.constantFrom(16, 64), replicas: fc.integer({ min: 1, max: 5 }) })
const isDurable = (specs: readonly Spec[]) => (n: NodeId) => specs.some((m) => m.name === n && m.durable)

describe('placement with durable and ephemeral members', () => {
  it('with a durable member in the view, every domain has a durable replica, listed first', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, (specs, st) => {
        fc.pre(specs.some((m) => m.durable))
        const durable = isDurable(specs)
        for (const p of placeAll(mixed(specs), st)) {
          expect(p.replicas.length).toBe(Math.min(st.replicas, specs.length))
          expect(new Set(p.replicas).size).toBe(p.replicas.length)
          expect(durable(p.replicas[0]!)).toBe(true)
          // Durable replicas before ephemeral ones: a tab is never ahead of a Node peer.
          const firstEphemeral = p.replicas.findIndex((n) => !durable(n))
          if (firstEphemeral >= 0) expect(p.replicas.slice(firstEphemeral).every((n) => !durable(n))).toBe(true)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('a set whose durable replicas are all down while one of its tabs is up gets the best-ranked up durable member as stand-in, and only then', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, (specs, st) => {
        const durable = isDurable(specs)
        const up = (n: NodeId) => specs.some((m) => m.name === n && !m.down)
        for (const p of placeAll(mixed(specs), st)) {
          const setDurable = p.replicas.filter(durable)
          const outside = specs.filter((m) => m.durable && !m.down && !p.replicas.includes(nodeId(m.name)))
          const wanted = setDurable.length > 0 && !setDurable.some(up) && p.replicas.some((n) => !durable(n) && up(n)) && outside.length > 0
          if (!wanted) {
            expect(p.standIn).toBeUndefined()
            continue
          }
          expect(p.standIn).toBeDefined()
          expect(durable(p.standIn!) && up(p.standIn!) && !p.replicas.includes(p.standIn!)).toBe(true)
          // The same member whatever the order of the view: the best ranked of those that could be.
          expect(placeAll(mixed([...specs].reverse()), st)[p.domain]!.standIn).toBe(p.standIn)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('all durable or none durable: placement is the plain rendezvous ranking', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, (specs, st) => {
        const plain = placeAll(mixed(specs.map((m) => ({ ...m, durable: false }))), st)
        expect(placeAll(mixed(specs.map((m) => ({ ...m, durable: true }))), st)).toEqual(plain)
        // And the plain ranking keeps the properties the tests above check (same everywhere).
        expect(placeAll(mixed([...specs].reverse().map((m) => ({ ...m, durable: false }))), st)).toEqual(plain)
      }),
      { numRuns: 300 },
    )
  })

  it('every node computes the same answer, whatever the order of the members', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, (specs, st) => {
        expect(placeAll(mixed([...specs].reverse()), st)).toEqual(placeAll(mixed(specs), st))
      }),
      { numRuns: 300 },
    )
  })

  it('a member joining or leaving moves only the domains whose set names it', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, fc.boolean(), (specs, st, joinerDurable) => {
        const joiner = names.find((n) => !specs.some((m) => m.name === n))
        fc.pre(joiner !== undefined)
        const before = placeAll(mixed(specs), st)
        const after = placeAll(mixed([...specs, { name: joiner!, durable: joinerDurable, down: false }]), st)
        for (let d = 0; d < st.domainCount; d++) {
          // Joining: a set that does not take the newcomer is the set it was, in the same order.
          if (!after[d]!.replicas.includes(nodeId(joiner!))) expect(after[d]!.replicas).toEqual(before[d]!.replicas)
          // Leaving is the same pair read backwards.
          else expect(after[d]!.replicas.filter((n) => n !== joiner).every((n) => before[d]!.replicas.includes(n))).toBe(true)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('an ephemeral member joins or leaves: the durable replica of every domain stays where it was', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, (specs, st) => {
        fc.pre(specs.some((m) => m.durable))
        const joiner = names.find((n) => !specs.some((m) => m.name === n))
        fc.pre(joiner !== undefined)
        const before = placeAll(mixed(specs), st)
        const after = placeAll(mixed([...specs, { name: joiner!, durable: false, down: false }]), st)
        for (let d = 0; d < st.domainCount; d++) expect(after[d]!.replicas[0]).toBe(before[d]!.replicas[0])
      }),
      { numRuns: 300 },
    )
  })

  it('a tab never leads a domain that an up durable owner could lead', () => {
    fc.assert(
      fc.property(specsArb, settingsArb, fc.array(fc.subarray(names), { minLength: 16, maxLength: 16 }), (specs, st, ownerPicks) => {
        const present = new Set(specs.map((m) => m.name))
        const owners: Record<number, NodeId[]> = {}
        for (let d = 0; d < st.domainCount; d++) owners[d] = (ownerPicks[d % 16] ?? []).filter((n) => present.has(n)).map(nodeId)
        const view = mixed(specs, owners)
        const durable = isDurable(specs)
        const up = (n: NodeId) => specs.some((m) => m.name === n && !m.down)
        for (let d = 0; d < st.domainCount; d++) {
          const r = domainRoles(view, st, d)
          if (r.primary === undefined) continue
          expect(up(r.primary)).toBe(true)
          expect(r.owners).toContain(r.primary)
          if (r.owners.some((n) => up(n) && durable(n))) expect(durable(r.primary)).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('a tab leads while the durable owner is down or still being healed, and hands over once it owns', () => {
    const st = { domainCount: 64, replicas: 2 }
    const specs: Spec[] = [
      { name: 'n1', durable: true, down: false },
      { name: 'tab-1', durable: false, down: false },
      { name: 'tab-2', durable: false, down: false },
    ]
    // A domain whose plain ranking puts both tabs first: tab-2 would lead it without the rule.
    const plain = placeAll(mixed(specs.map((m) => ({ ...m, durable: false }))), st)
    const d = plain.findIndex((p) => !p.replicas.includes(nodeId('n1')))
    expect(d).toBeGreaterThanOrEqual(0)
    const tabFirst = plain[d]!.replicas[0]!
    expect(placeDomain(mixed(specs), st, d).replicas).toEqual([nodeId('n1'), tabFirst])
    // Owners are the tabs (they held it before n1 joined): n1 is healed, a tab leads meanwhile.
    const healing = domainRoles(mixed(specs, { [d]: [nodeId('tab-1'), nodeId('tab-2')] }), st, d)
    expect(healing.primary).toBe(tabFirst)
    expect(healing.healing).toEqual([nodeId('n1')])
    // Once n1 owns a complete copy, it leads.
    expect(domainRoles(mixed(specs, { [d]: [tabFirst, nodeId('n1')] }), st, d).primary).toBe('n1')
    // n1 down: the tab leads (failover to the copy that is up).
    const n1Down = specs.map((m) => (m.name === 'n1' ? { ...m, down: true } : m))
    expect(domainRoles(mixed(n1Down, { [d]: [tabFirst, nodeId('n1')] }), st, d).primary).toBe(tabFirst)
  })
})
