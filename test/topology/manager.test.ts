/**
 * The topology manager's planner (planView): what a view means for this node, domain by domain.
 * Pure: these tests hand it a view and what the node holds, and read the plan; the state manager
 * only carries plans out (the simulation and the cluster tests check that end to end).
 */
import { describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import { planView, type HeldCopy, type PlanInput } from '../../src/topology/manager.js'
import type { View } from '../../src/topology/view.js'

const [a, b, c] = [nodeId('a'), nodeId('b'), nodeId('c')]
/** One domain, its replica set pinned to a, b, c in that order (the first up owner leads). */
const settings = { domainCount: 1, replicas: 3, pins: { 0: [a, b, c] } }

function view(epoch: number, opts: { down?: NodeId[]; owners?: NodeId[] } = {}): View {
  return {
    epoch,
    members: [a, b, c].map((n) => ({ nodeId: n, status: opts.down?.includes(n) ? 'down' : 'up', engines: [] })),
    ...(opts.owners ? { owners: { 0: opts.owners } } : {}),
  }
}

function input(self: NodeId, lastEpoch: number | undefined, held?: Partial<HeldCopy>, lost = false): PlanInput {
  const copy: HeldCopy | undefined = held ? { role: 'backup', healed: new Set(), damaged: false, ...held } : undefined
  return { self, settings, lastEpoch, held: () => copy, lost: () => lost }
}

const planOf = (v: View, i: PlanInput) => {
  const plan = planView(v, i)
  if (!plan) throw new Error('no plan')
  expect(plan.roles).toHaveLength(1)
  expect(plan.domains).toHaveLength(1)
  return plan.domains[0]!
}

describe('planView', () => {
  it('ignores a view that is not newer than the last one taken', () => {
    expect(planView(view(4), input(a, 4, { role: 'primary' }))).toBeUndefined()
    expect(planView(view(3), input(a, 4, { role: 'primary' }))).toBeUndefined()
    expect(planView(view(5), input(a, 4, { role: 'primary' }))).toBeDefined()
  })

  it('a backup promoted to primary syncs from the other owners first, and leads the up ones', () => {
    const p = planOf(view(5, { down: [a] }), input(b, 4, { role: 'backup' }))
    expect(p.roles.primary).toBe(b)
    expect(p.action).toEqual({ kind: 'lead', backups: [c], down: [a], sync: true, heal: [], keepHealed: [] })
  })

  it('a primary that stays primary from one view to the next does not sync', () => {
    const p = planOf(view(5), input(a, 4, { role: 'primary' }))
    expect(p.action).toMatchObject({ kind: 'lead', backups: [b, c], down: [], sync: false })
  })

  it('a primary that missed views syncs even though its role never changed', () => {
    const p = planOf(view(7), input(a, 4, { role: 'primary' }))
    expect(p.action).toMatchObject({ kind: 'lead', backups: [b, c], sync: true })
  })

  it('a new primary with no backup up has nobody to sync from', () => {
    const p = planOf(view(5, { down: [b, c] }), input(a, undefined))
    expect(p.action).toEqual({ kind: 'lead', backups: [], down: [b, c], sync: false, heal: [], keepHealed: [] })
  })

  it('an owner that is not primary follows the primary as a complete copy', () => {
    const p = planOf(view(5), input(b, 4, { role: 'primary' }))
    expect(p.action).toEqual({ kind: 'follow', owner: true, primary: a, ownerCount: 3 })
  })

  it('a healing target follows as an incomplete copy (not an owner yet)', () => {
    const p = planOf(view(5, { owners: [a, b] }), input(c, 4))
    expect(p.roles.healing).toEqual([c])
    expect(p.action).toEqual({ kind: 'follow', owner: false, primary: a, ownerCount: 2 })
  })

  it('an owner follows no one while the view gives the domain no primary', () => {
    const q = planOf({ ...view(6, { owners: [a, b] }), waiting: [0] }, input(b, 5, { role: 'backup' }))
    expect(q.roles.primary).toBeUndefined()
    expect(q.action).toEqual({ kind: 'follow', owner: true, primary: undefined, ownerCount: 1 })
  })

  it('a node that is neither owner nor target drops the copy it holds', () => {
    const pinnedAB = { ...settings, replicas: 2 }
    const held = { ...input(c, 4, { role: 'backup' }), settings: pinnedAB }
    expect(planOf(view(5, { owners: [a, b] }), held).action).toEqual({ kind: 'drop' })
    // Nothing held: nothing to drop.
    expect(planOf(view(5, { owners: [a, b] }), { ...input(c, 4), settings: pinnedAB }).action).toEqual({ kind: 'none' })
    // A static topology (no owners in the view) never drops a copy.
    expect(planOf(view(5), held).action).toEqual({ kind: 'none' })
  })

  it('a primary copies the domain to a new target, and counts it as a backup once copied', () => {
    const v = view(5, { owners: [a, b] })
    expect(planOf(v, input(a, 4, { role: 'primary' })).action).toMatchObject({ kind: 'lead', backups: [b], heal: [c], keepHealed: [] })
    const copied = planOf(v, input(a, 4, { role: 'primary', healed: new Set([c]) }))
    expect(copied.action).toMatchObject({ kind: 'lead', backups: [b, c], heal: [], keepHealed: [c] })
  })

  it('a target copied by a primary this node was not yet is copied again (the copy was not ours)', () => {
    const p = planOf(view(5, { owners: [a, b] }), input(a, 4, { role: 'backup', healed: new Set([c]) }))
    expect(p.action).toMatchObject({ kind: 'lead', backups: [b], heal: [c], keepHealed: [c] })
  })

  it('a copied target that became an owner is forgotten as healed', () => {
    const p = planOf(view(5), input(a, 4, { role: 'primary', healed: new Set([c]) }))
    expect(p.action).toMatchObject({ kind: 'lead', backups: [b, c], heal: [], keepHealed: [] })
  })

  it('a damaged copy leads (answering NotReady) but is never copied on', () => {
    const p = planOf(view(5, { owners: [a, b] }), input(a, 4, { role: 'primary', damaged: true }, true))
    expect(p.damaged).toBe(true)
    expect(p.action).toMatchObject({ kind: 'lead', heal: [] })
  })

  it('a lost copy still listed as owner is reported lagging, unless it is the only owner', () => {
    const p = planOf(view(5), input(b, 4, { role: 'backup', damaged: true }, true))
    expect(p).toMatchObject({ reportLost: true, forgetLoss: false, damaged: true })
    const alone = planOf(view(5, { owners: [b] }), input(b, 4, { role: 'primary', damaged: true }, true))
    expect(alone).toMatchObject({ reportLost: false, forgetLoss: false, damaged: true })
  })

  it('a lost copy no longer listed as owner forgets its marker and comes back by healing', () => {
    const p = planOf(view(5, { owners: [a, b] }), input(c, 4, { role: 'backup', damaged: true }, true))
    expect(p).toMatchObject({ forgetLoss: true, reportLost: false })
    // Still damaged: it serves nothing until the copy healing brings replaces it.
    expect(p.damaged).toBe(true)
    expect(p.action).toEqual({ kind: 'follow', owner: false, primary: a, ownerCount: 2 })
  })

  it('a damaged copy is whole again once a view lists it as owner (after a copy replaced it)', () => {
    const p = planOf(view(6), input(c, 5, { role: 'backup', damaged: true }))
    expect(p.damaged).toBe(false)
    expect(p.action).toMatchObject({ kind: 'follow', owner: true })
  })
})
