/** A damaged stored replica is detected, reported, and rebuilt from peers; bad data is never served. */
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import { CorruptReplicaError, DomainPersistence } from '../../src/persistence/persistence.js'
import { seal, sealInPlace, unseal } from '../../src/storage/checksum.js'
import { FileStorage } from '../../src/storage/files.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { encodeValue } from '../../src/wire/codec.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const VS = virtualServerId('shop')
let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('damaged storage', () => {
  it('a garbled or truncated record is detected at start, reported, and the replica is rebuilt from peers', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c'], { replicas: 2, domainCount: 8 })
    const s = c.node('a').store('shop')
    for (let i = 0; i < 40; i++) await c.run(s.put(`k${i}`, { i }))
    for (const n of c.nodes.values()) await n.state.flush()
    c.crash('b')
    // Damage two of b's stored records: flip bytes in one, cut another short.
    const disk = c.disks.get(nodeId('b'))!
    const records = [...disk.values()].filter((e) => e.key[0] === 'dom')
    const domains = [...new Set(records.map((e) => Number(e.key[1])))]
    expect(domains.length).toBeGreaterThanOrEqual(2)
    const first = records.find((e) => Number(e.key[1]) === domains[0])!
    first.value = first.value.map((x, i) => (i > 6 && i < 12 ? x ^ 0xff : x))
    const second = records.find((e) => Number(e.key[1]) === domains[1])!
    second.value = second.value.slice(0, Math.floor(second.value.length / 2))
    const b = await c.startNode('b')
    expect(b.state.damaged.map((x) => x.domain).sort()).toEqual([domains[0], domains[1]].sort())
    expect(b.state.damaged[0]!.reason).toMatch(/checksum/)
    await c.settleHealing()
    // b holds correct copies again, and every read is right.
    for (let i = 0; i < 40; i++) {
      const local = b.state.readLocal(VS, `k${i}`)
      if (local.held) expect(local.obj?.value).toEqual({ i })
      expect(await c.run(b.store('shop').get(`k${i}`))).toEqual({ i })
    }
  })

  it('every copy of a domain damaged: reads and create-only puts answer NotReadyError, never "absent", until the loss is accepted', async () => {
    c = await ServiceCluster.start(['a', 'b'], { replicas: 2, domainCount: 4, store: { writeTimeoutMs: 1000 } })
    const s = c.node('a').store('shop')
    for (let i = 0; i < 20; i++) await c.run(s.put(`k${i}`, { i }))
    for (const n of c.nodes.values()) await n.state.flush()
    const d = c.node('a').state.domainOf(VS, 'k1')
    c.crash('a')
    c.crash('b')
    for (const n of ['a', 'b']) {
      const disk = c.disks.get(nodeId(n))!
      for (const e of disk.values()) if (e.key[0] === 'dom' && Number(e.key[1]) === d) e.value = e.value.map((x, i) => (i > 6 && i < 12 ? x ^ 0xff : x))
    }
    const a = await c.startNode('a')
    const b = await c.startNode('b')
    await c.settle(500)
    expect(a.state.damaged.map((x) => x.domain)).toContain(d)
    const primary = c.node(a.state.placement(d).primary!)
    expect(primary.health().damaged).toContain(d)
    expect(primary.health().safe).toBe(false)
    await expect(c.run(b.store('shop').get('k1'))).rejects.toMatchObject({ name: 'NotReadyError' })
    await expect(c.run(b.store('shop').put('k1', { i: -1 }, { ifVersion: 0 }))).rejects.toMatchObject({ name: 'NotReadyError' })
    // Other domains serve as before.
    const elsewhere = [...Array(20).keys()].find((i) => a.state.domainOf(VS, `k${i}`) !== d)!
    expect(await c.run(b.store('shop').get(`k${elsewhere}`))).toEqual({ i: elsewhere })
    // Restarted again, the nodes find no damaged copy any more (it was dropped), but remember the loss.
    c.crash('a')
    c.crash('b')
    const a2 = await c.startNode('a')
    const b2 = await c.startNode('b')
    await c.settle(500)
    const primary2 = c.node(a2.state.placement(d).primary!)
    expect(primary2.health().damaged).toContain(d)
    await expect(c.run(b2.store('shop').get('k1'))).rejects.toMatchObject({ name: 'NotReadyError' })
    // The operator accepts the loss: the (empty) copy serves again.
    primary2.state.acceptLoss(d)
    expect(await c.run(b2.store('shop').get('k1'))).toBeUndefined()
  })

  it('a stored snapshot and its segments load back as the domain was; a segment key that is not a seq is refused', async () => {
    const storage = new MemoryStorage(new Map())
    const p = new DomainPersistence(storage, 5, 1 << 20)
    const state = new DomainState(5)
    const batch = (from: number) => Array.from({ length: 40 }, (_, i) => ({ seq: from + i, epoch: 1, vs: 'shop', key: `k${(from + i) % 70}`, change: { kind: 'put' as const, value: { n: from + i, pad: 'y'.repeat(50) } } }))
    for (const e of batch(1)) state.apply(e)
    await p.append(batch(1))
    await p.writeSnapshot(state)
    for (const from of [41, 81]) {
      for (const e of batch(from)) state.apply(e)
      await p.append(batch(from))
    }
    const loaded = (await new DomainPersistence(storage, 5, 1 << 20).load())!
    expect(loaded.lastSeq).toBe(120)
    expect(new Map(loaded.objects)).toEqual(new Map(state.objects))
    // The next snapshot deletes exactly the segments written since the last one.
    const again = new DomainPersistence(storage, 5, 1 << 20)
    await again.load()
    await again.writeSnapshot(loaded)
    expect((await storage.list(['dom', '5'])).map((e) => e.key[2])).toEqual(['snap'])
    await storage.put(['dom', '5', 'seg', 'x12'], seal(encodeValue([])))
    await expect(new DomainPersistence(storage, 5, 1 << 20).load()).rejects.toThrow(/segment key x12 is not a padded seq/)
  })

  it('a checksum written in place is the one seal writes, and unseal takes it', () => {
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff)
    const room = new Uint8Array(1004)
    room.set(payload, 4)
    expect([...sealInPlace(room)]).toEqual([...seal(payload)])
    expect([...unseal(room)!]).toEqual([...payload])
    room[500] = room[500]! ^ 1
    expect(unseal(room)).toBeUndefined()
    expect(() => sealInPlace(new Uint8Array(3))).toThrow(RangeError)
  })

  it('a truncated file under FileStorage fails its checksum instead of decoding into wrong data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-corrupt-'))
    try {
      const storage = await FileStorage.open(dir)
      const p = new DomainPersistence(storage, 3, 1 << 20)
      const state = new DomainState(3)
      const entries = Array.from({ length: 5 }, (_, i) => ({ seq: i + 1, epoch: 1, vs: 'shop', key: `k${i}`, change: { kind: 'put' as const, value: { i, pad: 'x'.repeat(100) } } }))
      for (const e of entries) state.apply(e)
      await p.append(entries)
      await storage.close() // the segment reaches its own file at the latest on close
      const segDir = join(dir, 'dom', '3', 'seg')
      const file = join(segDir, (await readdir(segDir))[0]!)
      await truncate(file, Math.floor((await stat(file)).size / 2))
      const reopened = await FileStorage.open(dir)
      await expect(new DomainPersistence(reopened, 3, 1 << 20).load()).rejects.toThrow(CorruptReplicaError)
      await expect(new DomainPersistence(reopened, 3, 1 << 20).load()).rejects.toThrow(/checksum/)
      await reopened.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
