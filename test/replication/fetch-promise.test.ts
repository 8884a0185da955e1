/**
 * A backup that has answered a new primary's sync fetch follows only that primary until its own
 * view catches up: the old primary, which has not heard of the new view either, must not be able
 * to commit a write on that backup's ack (with `writeAcks` below 'all') that the new primary's
 * log, taken from the answer, lacks.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { StoreCluster } from '../helpers/store-cluster.js'

const VS = virtualServerId('shop')
let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('a sync fetch answered', () => {
  it('keeps the old primary from committing on this backup', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3, store: { writeAcks: 1 } })
    const key = 'k1'
    const d = c.node('a').state.domainOf(VS, key)
    const old = ['a', 'b', 'c'].find((x) => c!.node(x).state.isPrimary(d))!
    const [backup, next] = ['a', 'b', 'c'].filter((x) => x !== old) as [string, string]
    await c.run(c.node(old).store('shop').put(key, { v: 0 }))
    await c.settle()
    // `next` was promoted in a view that neither `old` nor `backup` has yet; it cannot reach `old`.
    c.net.partition([nodeId(old)], [nodeId(next)])
    const b = c.node(backup).state
    const at = b.domains().find((x) => x.domain === d)!.lastSeq
    b.handleFetch(nodeId(next), { domain: d, epoch: 2, after: at, afterEpoch: 1 })
    // The old primary's next write reaches `backup` only. It must not commit there.
    const w = c.node(old).store('shop').put(key, { v: 1 })
    await expect(c.run(w)).rejects.toMatchObject({ code: 'OUTCOME_UNKNOWN', details: { cause: 'STALE_EPOCH' } })
    expect(b.readLocal(VS, key).obj?.value).toEqual({ v: 0 })
  })
})
