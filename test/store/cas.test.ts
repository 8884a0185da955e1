/**
 * Compare-and-set with no holes (issue 31): a stale `ifVersion` conflicts on every path a write
 * names, however the path is spelled and wherever the array it goes through has shifted, from the
 * primary itself and from any other node, and every copy holds the same value.
 */
import { produce } from 'immer'
import { afterEach, describe, expect, it } from 'vitest'
import { DomainMeshError, NoRouteError, RemoteError, isRemote, toWireError, CasConflictError, KeyNotFoundError } from '../../src/errors.js'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { fromWireError } from '../../src/remote-errors.js'
import type { ChangeEvent } from '../../src/store/watch.js'
import { ServiceCluster } from '../helpers/service-cluster.js'
import { StoreCluster } from '../helpers/store-cluster.js'
import { copies, keyLedBy } from './cas-helpers.js'

const VS = virtualServerId('shop')
let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

const WRITERS = [
  ['on the primary', 'a'],
  ['from another node', 'b'],
] as const

describe('compare-and-set', () => {
  it('an error answered by a remote primary is its own named class on the caller, for every key', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const s = c.node('a').store('shop')
    const keys = Array.from({ length: 16 }, (_, i) => `key${i}`)
    const remote = keys.filter((k) => c!.node('a').state.placement(c!.node('a').state.domainOf(VS, k)).primary !== 'a')
    expect(remote.length).toBeGreaterThan(0)
    for (const k of keys) {
      const v = await s.put(k, { n: 0 })
      await s.patch(k, [{ op: 'replace', path: ['n'], value: 1 }])
      const err = await s.patch(k, [{ op: 'replace', path: ['n'], value: 2 }], { ifVersion: v.version }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(CasConflictError)
      expect(err).toBeInstanceOf(DomainMeshError)
      expect(err).toMatchObject({ name: 'CasConflictError', code: 'CAS_CONFLICT', details: { key: k, path: ['n'], expected: v.version } })
      expect((err as Error).message).toMatch(new RegExp(`object "${k}" at /n is at version`))
      expect(isRemote(err)).toBe(remote.includes(k))
      const missing = await s.patch(`${k}-missing`, [{ op: 'replace', path: ['n'], value: 2 }]).catch((e: unknown) => e)
      expect(missing).toBeInstanceOf(KeyNotFoundError)
    }
    // A code the receiver has no class for stays a RemoteError, with the sender's name and code.
    const unknown = fromWireError({ code: 'FROM_THE_FUTURE', name: 'FutureError', message: 'm', details: { x: 1 } })
    expect(unknown).toBeInstanceOf(RemoteError)
    expect(unknown).toMatchObject({ name: 'FutureError', code: 'FROM_THE_FUTURE', details: { x: 1 } })
    const noRoute = fromWireError(toWireError(new NoRouteError('engine', 'x', 'addr')))
    expect(noRoute).toBeInstanceOf(NoRouteError)
    expect((noRoute as NoRouteError).part).toBe('engine')
  })

  it('thirty concurrent increments from three nodes all land with the default options', async () => {
    // Every frame takes 1-5 ms, as between processes: a read and its conditional write leave room for others.
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3, faults: { delay: 1, delayMs: [1, 5] } })
    const key = keyLedBy(c, 'a')
    await c.run(c.node('a').store('shop').put(key, { n: 0 }))
    const incs = Array.from({ length: 30 }, (_, i) => c!.node(['a', 'b', 'c'][i % 3]!).store('shop').update<{ n: number }>(key, (d) => void d.n++))
    const results = await c.run(Promise.allSettled(incs))
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    expect(await c.run(c.node('b').store('shop').get(key))).toEqual({ n: 30 })
  })

  it('an update that keeps losing gives up with CasConflictError at the write timeout, waiting between attempts', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3, store: { writeTimeoutMs: 2000 } })
    const key = keyLedBy(c, 'a')
    const s = c.node('b').store('shop')
    await s.put(key, { n: 0 })
    let attempts = 0
    const start = c.clock.now()
    // Each run of the recipe sends a write to the same field first, so every attempt conflicts.
    const losing = s.update<{ n: number }>(key, (d) => {
      attempts++
      void s.patch(key, [{ op: 'replace', path: ['n'], value: -attempts }])
      d.n = attempts
    }).catch((e: unknown) => e)
    const err = await c.run(losing)
    expect(err).toBeInstanceOf(CasConflictError)
    // It kept trying until a wait (at most 250 ms) would have ended past the timeout.
    expect(c.clock.now() - start).toBeGreaterThan(2000 - 250 - 20)
    expect(c.clock.now() - start).toBeLessThanOrEqual(2000 + 20)
    // Waits that double from a few ms: far fewer attempts than a back-to-back loop would make in 2 s.
    expect(attempts).toBeGreaterThan(5)
    expect(attempts).toBeLessThan(60)
  })

  it('update takes as its base only a committed version: a replaced primary\'s uncommitted number goes to another write', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 2 })
    const cl = c
    const a = cl.node('a')
    // A key a leads with b as its backup; c holds no copy.
    const key = [...Array(500).keys()].map((i) => `u${i}`).find((k) => {
      const p = a.state.placement(a.state.domainOf(VS, k))
      return p.primary === 'a' && p.backups.includes(nodeId('b'))
    })!
    const fromB = cl.node('b').store('shop')
    const fromC = cl.node('c').store('shop')
    await cl.run(fromC.put(key, { n: 0 }))
    // From now on nothing a sends arrives until released: its next write never commits.
    cl.net.setTap((from) => (from === 'a' ? 'hold' : undefined))
    const never = fromC.patch(key, [{ op: 'replace', path: ['n'], value: 100 }]).catch((e: unknown) => e)
    await cl.settle(10)
    const inc = fromC.update<{ n: number }>(key, (d) => void d.n++).catch((e: unknown) => e)
    await cl.settle(10)
    // b takes over and writes n = 1 under the number a gave to n = 100.
    await cl.publish({ remove: ['a'] })
    const one = await cl.run(fromB.patch(key, [{ op: 'replace', path: ['n'], value: 1 }]))
    // Only now does c hear what a answered.
    cl.net.setTap(undefined)
    cl.net.release(nodeId('a'), nodeId('c'))
    cl.net.release(nodeId('a'), nodeId('b'))
    const incAck = await cl.run(inc)
    await cl.run(never)
    expect(incAck, String(incAck)).toMatchObject({ version: expect.any(Number) })
    // The increment applied to a committed value: after the write of 1 (2) or before it (1), never to 100.
    const final = await cl.run(fromB.getVersioned<{ n: number }>(key))
    expect(final?.value.n === 2 ? (incAck as { version: number }).version > one.version : (incAck as { version: number }).version < one.version && final?.value.n === 1, JSON.stringify({ final, one, incAck })).toBe(true)
  })

  it('a primary replaced while paused refuses no write for a delete it never committed', async () => {
    const sc = await ServiceCluster.start(['n1', 'n2', 'n3'], { replicas: 2, domainCount: 16, healDelayMs: 60_000, store: { writeTimeoutMs: 10_000 } })
    try {
      const n1 = sc.node('n1')
      const key = [...Array(200).keys()].map((i) => `k${i}`).find((k) => n1.state.placement(n1.state.domainOf(VS, k)).primary === 'n1')!
      const client = sc.node('n3').store('shop')
      await sc.run(client.put(key, { n: 0 }))
      sc.pause('n1')
      // Both wait in the paused primary's inbox; a backup takes the domain over meanwhile.
      const deleted = client.delete(key).catch((e: unknown) => e)
      const patched = client.patch(key, [{ op: 'replace', path: ['n'], value: 1 }]).catch((e: unknown) => e)
      await sc.settle(4000)
      expect(sc.node('n2').state.placement(n1.state.domainOf(VS, key)).primary).not.toBe('n1')
      sc.resume('n1')
      // n1 applies the delete, which can never commit (its epoch is over), then sees the patch: a
      // "no such key" from it would be an answer about an object its successor still holds.
      expect(await sc.run(deleted)).toMatchObject({ code: 'OUTCOME_UNKNOWN' })
      const ack = await sc.run(patched)
      expect(ack, String(ack)).toMatchObject({ version: expect.any(Number) })
      expect(await sc.run(client.get(key))).toEqual({ n: 1 })
    } finally {
      await sc.close()
    }
  })

  for (const [where, writer] of WRITERS) {
    it(`a number and its index-like string are one key to the write and to the version check (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      const before = await s.put(key, { scores: { '1': 0 }, arr: [{ x: 0 }] })
      await s.update<{ scores: Record<number, number> }>(key, (d) => void (d.scores[1] = 10))
      await expect(s.patch(key, [{ op: 'replace', path: ['scores', 1], value: 20 }], { ifVersion: before.version })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      await s.patch(key, [{ op: 'replace', path: ['arr', 0, 'x'], value: 1 }])
      await expect(s.patch(key, [{ op: 'replace', path: ['arr', '0', 'x'], value: 2 }], { ifVersion: before.version })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      // The other way round: written with the string, checked with the number.
      const mid = await s.patch(key, [{ op: 'replace', path: ['arr', '0', 'x'], value: 3 }])
      await expect(s.patch(key, [{ op: 'replace', path: ['arr', 0, 'x'], value: 4 }], { ifVersion: mid.version - 1 })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      expect((await s.getVersioned(key, { path: ['arr', '0', 'x'] }))?.version).toBe(mid.version)
      await c.settle()
      for (const v of copies(c, key)) expect(v).toEqual({ scores: { '1': 10 }, arr: [{ x: 3 }] })
    })

    it(`a check through an array fails once an element was inserted or removed before it (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      const items = ['id1', 'id2', 'id3'].map((id) => ({ id, done: false }))
      const before = await s.put(key, { items })
      // A removes index 0 (Immer's own patches: a replace per shifted index and a remove at the end).
      await s.update<{ items: { id: string }[] }>(key, (d) => void d.items.shift())
      // B, meaning id2, names it by its old index with the older version: refused, not applied to id3.
      await expect(s.patch(key, [{ op: 'replace', path: ['items', 1, 'done'], value: true }], { ifVersion: before.version })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      // The same with a plain remove and an insert sent as patches.
      const v2 = await s.patch(key, [{ op: 'add', path: ['items', 0], value: { id: 'id0', done: false } }])
      await expect(s.patch(key, [{ op: 'replace', path: ['items', 0, 'done'], value: true }], { ifVersion: v2.version - 1 })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      const v3 = await s.patch(key, [{ op: 'remove', path: ['items', 0] }])
      await expect(s.patch(key, [{ op: 'replace', path: ['items', '1', 'done'], value: true }], { ifVersion: v3.version - 1 })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      // A check on a fresh version still passes, and a replace of one element leaves its siblings' checks alone.
      const v4 = await s.patch(key, [{ op: 'replace', path: ['items', 1, 'done'], value: true }], { ifVersion: v3.version })
      await s.patch(key, [{ op: 'replace', path: ['items', 0, 'done'], value: true }], { ifVersion: v3.version })
      await c.settle()
      expect(v4.version).toBeGreaterThan(v3.version)
      for (const v of copies(c, key)) expect(v).toEqual({ items: [{ id: 'id2', done: true }, { id: 'id3', done: true }] })
    })

    it(`options are checked the same way whichever node leads the key (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      await s.put(key, { n: 0 })
      const op = [{ op: 'replace' as const, path: ['n'], value: 1 }]
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, '1']) {
        await expect(s.patch(key, op, { ifVersion: bad as number })).rejects.toMatchObject({ name: 'InvalidOptionError', code: 'INVALID_OPTION' })
        await expect(s.put(key, { n: 2 }, { ifVersion: bad as number })).rejects.toMatchObject({ name: 'InvalidOptionError' })
        await expect(s.delete(key, { ifVersion: bad as number })).rejects.toMatchObject({ name: 'InvalidOptionError' })
      }
      await expect(s.patch(key, op, { ifVerison: 0 } as never)).rejects.toThrow(/invalid option patch ifVerison: expected one of the known options \(ifVersion\)/)
      await expect(s.put(key, { n: 2 }, { ifVerison: 0 } as never)).rejects.toMatchObject({ name: 'InvalidOptionError' })
      await expect(s.update(key, () => undefined, { retires: 3 } as never)).rejects.toMatchObject({ name: 'InvalidOptionError' })
      await expect(s.update(key, 'd.n++' as never)).rejects.toMatchObject({ name: 'InvalidOptionError', message: 'invalid option update recipe: expected a function, not "d.n++"' })
      await expect(s.get(key, { form: 'local' } as never)).rejects.toMatchObject({ name: 'InvalidOptionError' })
      await expect(s.patch(key, op, 7 as never)).rejects.toMatchObject({ name: 'InvalidOptionError' })
      expect(await s.getVersioned(key)).toEqual({ value: { n: 0 }, version: 1 })
    })

    it(`-0 is stored as 0 on every copy, the primary's own included (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      await s.put(key, { a: -0, list: [-0], o: { z: -0 } })
      await s.patch(key, [{ op: 'add', path: ['b'], value: -0 }, { op: 'add', path: ['list', '-'], value: { w: -0 } }])
      await c.settle()
      const all = copies(c, key) as { a: number; b: number; list: [number, { w: number }]; o: { z: number } }[]
      expect(all).toHaveLength(3)
      for (const v of all) for (const x of [v.a, v.b, v.list[0], v.list[1].w, v.o.z]) expect(Object.is(x, 0), JSON.stringify(v) + [v.a, v.b, v.list[0], v.list[1].w, v.o.z].map((y) => Object.is(y, -0))).toBe(true)
      expect(Object.is((await s.get<{ a: number }>(key))!.a, 0)).toBe(true)
    })

    it(`a patch list holding null or a non-object is refused with a named error (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      await s.put(key, { n: 0 })
      for (const bad of [[null], [7], ['x'], [[0, ['n'], 1]], [{ op: 'replace', path: ['n'], value: 1 }, null]]) {
        await expect(s.patch(key, bad as never)).rejects.toMatchObject({ name: 'InvalidPatchError', code: 'INVALID_PATCH' })
      }
      expect(await s.getVersioned(key)).toEqual({ value: { n: 0 }, version: 1 })
    })

    it(`undefined is JSON's: a key set to undefined is removed, an array hole is null, on every copy (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      const base = { x: 1, keep: 2, arr: [1, 2, 3], nested: { a: 1 } }
      await s.put(key, base)
      type T = { x?: number; y?: number; keep: number; arr: (number | undefined)[]; nested: Record<string, unknown> }
      const recipe = (d: T) => {
        d.x = undefined
        d.y = undefined
        delete d.arr[1]
        d.arr.length = 5
        d.nested = { a: undefined, b: [undefined, 2], c: { d: undefined } }
      }
      await s.update<T>(key, recipe)
      const expected = { keep: 2, arr: [1, null, 3, null, null], nested: { b: [null, 2], c: {} } }
      await c.settle()
      for (const v of copies(c, key)) expect(JSON.stringify(v)).toBe(JSON.stringify(expected))
      // A put holding undefined members, the same way; a put of undefined itself is refused.
      await s.put(key, { a: undefined, b: [undefined], c: 1 })
      await c.settle()
      for (const v of copies(c, key)) expect(JSON.stringify(v)).toBe('{"b":[null],"c":1}')
      await expect(s.put(key, undefined)).rejects.toMatchObject({ name: 'InvalidValueError' })
      await expect(s.patch(key, [{ op: 'replace', path: [], value: undefined }])).rejects.toMatchObject({ name: 'InvalidPatchError' })
    })

    it(`front edits of a 1,500-element array travel as one splice, give Immer's result on every copy, and version the array (${where})`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { replicas: 3 })
      const key = keyLedBy(c, 'a')
      const s = c.node(writer).store('shop')
      const heard: ChangeEvent[] = []
      c.node('c').store('shop').subscribe(key, (e) => heard.push(e), { from: 'local' })
      type T = { items: { id: number }[]; n: number }
      let model: T = { items: Array.from({ length: 1500 }, (_, id) => ({ id })), n: 0 }
      const first = await s.put(key, model)
      const recipes: ((d: T) => void)[] = [
        (d) => void d.items.shift(),
        (d) => void d.items.unshift({ id: -1 }, { id: -2 }),
        (d) => void d.items.splice(3, 2, { id: -3 }),
        (d) => {
          d.items.splice(0, 1)
          d.items[0]!.id = 1000
          d.n++
        },
        (d) => void (d.items.length = 1400),
        (d) => void d.items.reverse(),
      ]
      for (const r of recipes) {
        model = produce(model, r)
        await s.update<T>(key, r)
      }
      await c.settle()
      for (const v of copies(c, key)) expect(v).toEqual(model)
      // Each update was one operation on the wire (the last also a replace of n, and reverse one splice).
      expect(heard.slice(1).map((e) => (e.change.kind === 'patch' ? e.change.patches.map((p) => p.op) : []))).toEqual([['splice'], ['splice'], ['splice'], ['splice', 'replace'], ['splice'], ['splice']])
      // The array changed shape since the first version: a check on any path through it conflicts.
      await expect(s.patch(key, [{ op: 'replace', path: ['items', 5, 'id'], value: 0 }], { ifVersion: first.version })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      // A splice sent as a patch is checked like the others.
      const v = await s.patch(key, [{ op: 'splice', path: ['items'], index: 0, remove: 2, value: [{ id: 7 }] }])
      await expect(s.patch(key, [{ op: 'replace', path: ['items', '0', 'id'], value: 0 }], { ifVersion: v.version - 1 })).rejects.toMatchObject({ code: 'CAS_CONFLICT' })
      await expect(s.patch(key, [{ op: 'splice', path: ['items'], index: 1399, remove: 2, value: [] }])).rejects.toMatchObject({ name: 'PathNotFoundError' })
      await expect(s.patch(key, [{ op: 'splice', path: ['n'], index: 0, remove: 0, value: [] }])).rejects.toMatchObject({ name: 'InvalidPatchError' })
      await expect(s.patch(key, [{ op: 'splice', path: ['items'], index: -1, remove: 0, value: [] }])).rejects.toMatchObject({ name: 'InvalidPatchError' })
      await c.settle()
      model = produce(model, (d) => void d.items.splice(0, 2, { id: 7 }))
      for (const v2 of copies(c, key)) expect(v2).toEqual(model)
    })
  }
})
