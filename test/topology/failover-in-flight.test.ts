/**
 * A primary dies while writes are in flight (issue 30): its backups have the writes but their acks
 * have not reached it, so no client heard back. Everything a client saw acknowledged must survive
 * the failover, and every write still pending must come back as an error that says its outcome is
 * unknown (OutcomeUnknownError), never as a success and never as an error that reads as "not done".
 */
import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId, type NodeId } from '../../src/ids.js'
import { ServiceCluster } from '../helpers/service-cluster.js'
import { carriesAck } from '../sim/frames.js'

const VS = virtualServerId('shop')
let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

const actingPrimary = (cl: ServiceCluster, key: string): NodeId | undefined => {
  const any = [...cl.nodes.values()][0]!
  const d = any.state.domainOf(VS, key)
  return [...cl.nodes.values()].find((n) => n.state.isPrimary(d))?.nodeId
}

describe('failover with writes in flight', () => {
  it("kill the primary while its backups' acks are held: acknowledged writes survive, pending ones fail as outcome unknown", async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 3, healDelayMs: 5000 })
    const cl = c
    const keys: string[] = []
    for (let i = 0; keys.length < 4 && i < 10_000; i++) if (actingPrimary(cl, `k${i}`) === 'a') keys.push(`k${i}`)
    const domains = new Set(keys.map((k) => cl.node('a').state.domainOf(VS, k)))
    // The client runs on a node that is not the primary, so it outlives it.
    const client = cl.node('d').store(VS)
    for (const key of keys) await cl.run(client.put(key, { n: 1 }))

    // From now on, no backup's ack reaches a: its writes stay pending, their copies on the backups.
    let held = 0
    cl.net.setTap((_from, to, bytes) => {
      if (to !== 'a' || !carriesAck(_from, to, bytes)) return
      held++
      return 'hold'
    })
    const outcomes = keys.map((key) =>
      client.put(key, { n: 2 }).then(
        () => ({ key, ok: true as const }),
        (err: { code?: string; message: string }) => ({ key, ok: false as const, code: err.code, message: err.message }),
      ),
    )
    let settled = 0
    for (const o of outcomes) void o.then(() => settled++)
    await cl.settle(100)
    expect(held).toBeGreaterThan(0)
    expect(settled).toBe(0)
    const backups = [...cl.nodes.values()].filter((n) => n.nodeId !== 'a' && [...domains].some((d) => n.state.domains().some((x) => x.domain === d && x.role === 'backup')))
    expect(backups.length).toBeGreaterThan(0)
    // The writes did reach the backups: only the acks are missing.
    for (const key of keys) {
      const d = cl.node('a').state.domainOf(VS, key)
      const holders = backups.filter((b) => b.state.domains().some((x) => x.domain === d && x.role === 'backup'))
      for (const b of holders) expect(b.state.readLocal(VS, key).obj?.value).toEqual({ n: 2 })
    }

    c.crash('a')
    const results = await cl.run(Promise.all(outcomes), 60_000)
    cl.net.setTap(undefined)
    await cl.settleHealing()

    // No pending write was reported done, and none with an error that hides that it may be.
    expect(results.filter((r) => r.ok)).toEqual([])
    expect(results.map((r) => [r.key, r.ok ? 'ok' : r.code])).toEqual(keys.map((k) => [k, 'OUTCOME_UNKNOWN']))
    // What was acknowledged is there (or the pending write that followed it), on every owner alike.
    for (const key of keys) {
      const got = await cl.run(client.get<{ n: number }>(key))
      expect([1, 2]).toContain(got?.n)
      const d = cl.node('b').state.domainOf(VS, key)
      const owners = cl.service.view().owners?.[d] ?? []
      expect(owners.length).toBe(3)
      for (const o of owners) expect(cl.node(o).state.readLocal(VS, key).obj?.value).toEqual(got)
    }
  })
})
