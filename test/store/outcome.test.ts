/**
 * Outcome honesty: a write that reached its primary (or may have) and then lost its answer fails
 * with OutcomeUnknownError, never with NotConnectedError or TimeoutError, which callers take for
 * "not applied". What is safe to send again (a request that never left, a route not there yet) is
 * sent again, so the caller sees one slower call.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { NotConnectedError } from '../../src/errors.js'
import { OutcomeUnknownError } from '../../src/index.js'
import { nodeId, virtualServerId } from '../../src/ids.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import { ServiceCluster } from '../helpers/service-cluster.js'
import { StoreCluster } from '../helpers/store-cluster.js'

const VS = virtualServerId('shop')
let sc: ServiceCluster | undefined
let st: StoreCluster | undefined
afterEach(async () => {
  await sc?.close()
  await st?.close()
  sc = st = undefined
})

/** A key whose domain `primary` leads with `backup` as its other owner. */
const keyOf = (n: MeshNode, primary: string, backup: string): string => {
  for (let i = 0; i < 10_000; i++) {
    const roles = n.state.placement(n.state.domainOf(VS, `k${i}`))
    if (roles.primary === primary && roles.backups.length === 1 && roles.backups[0] === backup) return `k${i}`
  }
  throw new Error(`no key led by ${primary} with backup ${backup}`)
}

const failure = (p: Promise<unknown>): Promise<unknown> => p.then(
  (r) => ({ resolved: r }),
  (e: unknown) => e,
)

/** Lets microtasks run until `cond` holds (memory links deliver on microtasks). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !cond(); i++) await Promise.resolve()
  expect(cond()).toBe(true)
}

describe('outcome of a write whose primary is lost', () => {
  it('the link to the primary drops after the write reached it: the write is applied, and the caller is told its outcome is unknown', async () => {
    sc = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const key = keyOf(sc.node('c'), 'a', 'b')
    const a = sc.node('a')
    const w = failure(sc.node('c').store('shop').put(key, { v: 1 }))
    await until(() => a.state.readLocal(VS, key).obj !== undefined)
    // The primary has the write; its answer can no longer reach the caller.
    sc.net.partition([nodeId('a')], [nodeId('c')])
    const err = await sc.run(w)
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    expect(err).not.toBeInstanceOf(NotConnectedError)
    expect((err as OutcomeUnknownError).cause).toBeInstanceOf(NotConnectedError)
    expect((err as Error).message).toMatch(/may or may not have been applied/)
    // It was applied after all: the primary and its backup both have it.
    await sc.settle(100)
    expect(await sc.run(sc.node('b').store('shop').get(key))).toEqual({ v: 1 })
    expect(sc.node('b').state.readLocal(VS, key).obj?.value).toEqual({ v: 1 })
  })

  it('the primary dies holding a write it took: OutcomeUnknownError, not NotConnectedError', async () => {
    sc = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const key = keyOf(sc.node('c'), 'a', 'b')
    // The backup cannot ack, so the write waits on the primary, taken but not committed.
    sc.net.partition([nodeId('a')], [nodeId('b')])
    const w = failure(sc.node('c').store('shop').put(key, { v: 1 }))
    await sc.settle(50)
    expect(sc.node('a').state.readLocal(VS, key).obj?.value).toEqual({ v: 1 })
    sc.crash('a')
    const err = await sc.run(w)
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    expect((err as OutcomeUnknownError).details.cause).toBe('NOT_CONNECTED')
  })

  it('a primary whose backups never ack answers OutcomeUnknownError at the write timeout, with the TimeoutError as cause', async () => {
    sc = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2, store: { writeTimeoutMs: 2000 } })
    const key = keyOf(sc.node('c'), 'a', 'b')
    sc.net.partition([nodeId('a')], [nodeId('b')])
    const err = await sc.run(failure(sc.node('c').store('shop').put(key, { v: 1 })))
    // The caller holds the primary's answer as its own class, not as a RemoteError lookalike.
    expect(err).toBeInstanceOf(OutcomeUnknownError)
    expect((err as OutcomeUnknownError).details.cause).toBe('TIMEOUT')
    expect((err as Error).message).toMatch(/waiting for backups/)
  })
})

describe('what is safe to send again is sent again', () => {
  it('a write whose primary went down before the write left is sent to the new primary, and succeeds', async () => {
    sc = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const key = keyOf(sc.node('c'), 'a', 'b')
    const w = failure(sc.node('c').store('shop').put(key, { v: 1 }))
    // Queued, not yet handed to the link: the primary crashes now.
    sc.crash('a')
    expect(await sc.run(w)).toMatchObject({ resolved: { seq: expect.any(Number) } })
    const b = sc.node('b')
    expect(b.state.isPrimary(b.state.domainOf(VS, key))).toBe(true)
    expect(await sc.run(b.store('shop').get(key))).toEqual({ v: 1 })
  })

  it('a read is sent again while the route to the primary is not there (NoRouteError), until it is', async () => {
    st = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const key = keyOf(st.node('c'), 'a', 'b')
    await st.run(st.node('a').store('shop').put(key, { v: 1 }))
    // The view still names a, but c has no link to it for three seconds (a link being dialled).
    st.net.partition([nodeId('a')], [nodeId('c')])
    const r = failure(st.node('c').store('shop').get(key))
    await st.clock.advance(3000)
    st.net.heal()
    expect(await st.run(r)).toEqual({ resolved: { v: 1 } })
  })

  it('a write is sent again while the route to the primary is not there, and applied once', async () => {
    st = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const key = keyOf(st.node('c'), 'a', 'b')
    await st.run(st.node('a').store('shop').put(key, { n: 0 }))
    st.net.partition([nodeId('a')], [nodeId('c')])
    const w = failure(st.node('c').store('shop').patch(key, [{ op: 'replace', path: ['n'], value: 1 }]))
    await st.clock.advance(3000)
    st.net.heal()
    expect(await st.run(w)).toMatchObject({ resolved: { seq: 2 } })
    expect(await st.run(st.node('a').store('shop').get(key))).toEqual({ n: 1 })
  })

  it('gives up at the write timeout with the last error when the route never comes', async () => {
    st = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2, store: { writeTimeoutMs: 3000 } })
    const key = keyOf(st.node('c'), 'a', 'b')
    st.net.partition([nodeId('a')], [nodeId('c')])
    const t0 = st.clock.now()
    const err = await st.run(failure(st.node('c').store('shop').get(key)))
    expect(err).toMatchObject({ code: 'NO_ROUTE' })
    expect(st.clock.now() - t0).toBeLessThanOrEqual(3000 + 10)
  })
})

