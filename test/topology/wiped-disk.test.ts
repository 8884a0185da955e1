/**
 * A member that comes back under its old id with empty storage (a replaced drive, a deleted data
 * folder, a tab's memory) holds none of what the owner lists name it for: it must not answer for
 * it. Where another owner is listed it stops being an owner and is healed later; where it was the
 * only owner, the domain's data went with the disk and reads say so until the operator accepts it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const VS = virtualServerId('shop')
const KEYS = 200

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

/** Each key's answer through `reader`: its value, or the name of the error. */
async function answers(cl: ServiceCluster, reader: string, keys: Iterable<string>): Promise<Map<string, unknown>> {
  const store = cl.node(reader).store(VS)
  const out = new Map<string, unknown>()
  for (const key of keys) out.set(key, await cl.run(store.get(key), 20_000).then((v) => v, (e: Error) => `error ${e.name}`))
  return out
}

describe('a member back with empty storage under its old id', () => {
  it('never answers for copies it lost; what it alone held stays unreadable, across restarts, until the loss is accepted', async () => {
    c = new ServiceCluster({ replicas: 2, domainCount: 16, healDelayMs: 5000 })
    for (const n of ['n1', 'n2', 'n3']) await c.startNode(n, { durable: true })
    await c.settleHealing()
    const acked = new Map<string, unknown>()
    const s = c.node('n1').store(VS)
    for (let i = 0; i < KEYS; i++) {
      await c.run(s.put(`k${i}`, { i }))
      acked.set(`k${i}`, { i })
    }
    // n2 goes down (back within the heal delay); meanwhile n1 dies and returns on a new, empty disk.
    c.crash('n2')
    await c.settle(100)
    // Domains n1 now holds alone: n2 was dropped as lagging when n1 took them over.
    const alone = Object.entries(c.service.view().owners ?? {}).filter(([, o]) => o.length === 1 && o[0] === nodeId('n1')).map(([d]) => Number(d))
    c.crash('n1')
    c.disks.delete(nodeId('n1'))
    await c.settle(100)
    await c.startNode('n1', { durable: true })
    await c.settle(500)
    expect(c.node('n1').health().damaged.sort((a, b) => a - b)).toEqual(alone)

    const domainOf = (key: string) => c!.node('n3').state.domainOf(VS, key)
    const wrong = (got: Map<string, unknown>) => [...got].filter(([k, v]) => typeof v !== 'string' && JSON.stringify(v) !== JSON.stringify(acked.get(k))).map(([k, v]) => `${k} (domain ${domainOf(k)}): ${JSON.stringify(v)}`)
    // No key reads as absent or as anything but its value: at worst an error while n2 is away.
    expect(wrong(await answers(c, 'n3', acked.keys()))).toEqual([])

    // n2 is back: every domain but the ones n1 alone held reads again, and those fail, never "absent".
    await c.startNode('n2', { durable: true })
    await c.settle(3000)
    const check = async () => {
      const got = await answers(c!, 'n3', acked.keys())
      for (const [key, value] of got) {
        if (alone.includes(domainOf(key))) expect(value, key).toMatch(/^error /)
        else expect(value, key).toEqual(acked.get(key))
      }
    }
    await check()
    // n1 restarts on the disk it has now: the loss is remembered.
    c.crash('n1')
    await c.settle(100)
    await c.startNode('n1', { durable: true })
    await c.settle(3000)
    expect(c.node('n1').health().damaged.sort((a, b) => a - b)).toEqual(alone)
    await check()
    // The operator accepts the loss: those domains serve what is left (nothing), the rest is intact.
    for (const d of alone) c.node('n1').state.acceptLoss(d)
    await c.settleHealing()
    const after = await answers(c, 'n3', acked.keys())
    for (const [key, value] of after) expect(value, key).toEqual(alone.includes(domainOf(key)) ? undefined : acked.get(key))
  })
})
