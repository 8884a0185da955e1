/**
 * How long healing takes once a member is back: a node stays away past the heal delay (so the
 * view drops it and its domains are copied elsewhere), then restarts on its disk. The domains
 * placed on it again are copied back to it, most of them to a copy it already holds whole. Each
 * such copy is one exchange with the target (where its log ends, then an append it acks): no
 * copy may wait out a resend deadline for an ack nothing asked for, nor pause for the time it
 * spent waiting. Fake clock, memory transport, real TopologyService.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId, type NodeId } from '../../src/ids.js'
import { domainRoles } from '../../src/topology/placement.js'
import type { View } from '../../src/topology/view.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const VS = virtualServerId('shop')
const NODES = ['n1', 'n2', 'n3', 'n4']
const DOMAINS = 32
const RESEND_MS = 50

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** Domains whose owner list is short of its targets, or that still have a healing target. */
function unhealed(view: View): number {
  let n = 0
  for (let d = 0; d < DOMAINS; d++) {
    const r = domainRoles(view, { domainCount: DOMAINS, replicas: 2 }, d)
    if (!r.primary || r.owners.length < 2 || r.healing.length > 0) n++
  }
  return n
}

describe('healing time', () => {
  it('a member back on its disk after the heal delay gets its domains back within a few resend periods', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: DOMAINS, healDelayMs: 5000, store: { resendAfterMs: RESEND_MS } })
    for (const n of NODES) await c.startNode(n, { durable: true })
    await c.settleHealing()
    const store = c.node('n1').store(VS)
    for (let i = 0; i < 200; i++) await c.run(store.put(`k${i}`, { i }))
    await c.settleHealing()

    const away = 'n4' as NodeId
    const placed = Array.from({ length: DOMAINS }, (_, d) => d).filter((d) => domainRoles(c!.service.view(), { domainCount: DOMAINS, replicas: 2 }, d).replicas.includes(away))
    expect(placed.length).toBeGreaterThan(8)
    await c.node('n4').close()
    // Past the heal delay: the view drops n4 and its domains are copied to the others.
    await c.settle(6000)
    expect(c.service.view().members.some((m) => m.nodeId === away)).toBe(false)
    await c.settleHealing()

    // A few writes while it is away: those domains send n4 what it missed, the rest nothing.
    for (let i = 0; i < 10; i++) await c.run(store.put(`k${i}`, { i, again: true }))
    await c.settleHealing()

    // The view that takes n4 back places it on its domains again, none of which it owns yet.
    let admitted: View | undefined
    // (A copy: the service goes on changing the owner lists of the view it published last.)
    const off = c.service.events.on('view', ({ view }) => (admitted ??= view.members.some((m) => m.nodeId === away) ? (JSON.parse(JSON.stringify(view)) as View) : undefined))
    const back = c.clock.now()
    await c.startNode('n4', { durable: true })
    off()
    expect(admitted && unhealed(admitted)).toBeGreaterThan(8)
    let healedAt: number | undefined
    for (let t = 0; t < 60_000 && healedAt === undefined; t += 10) {
      if (unhealed(c.service.view()) === 0 && [...c.nodes.values()].every((n) => n.health().safe)) healedAt = c.clock.now()
      else await c.settle(10)
    }
    expect(healedAt).toBeDefined()
    // Each copy is one exchange (the memory transport delivers at once); 8 resend periods leave
    // room for the pieces' gaps and the service's owner batches, far below one resend deadline
    // (5 periods) per copy.
    expect(healedAt! - back).toBeLessThanOrEqual(8 * RESEND_MS)
    // Nothing was lost on the way.
    for (let i = 0; i < 200; i++) expect(await c.run(store.get(`k${i}`))).toEqual(i < 10 ? { i, again: true } : { i })
  })
})
