/** Log segments on disk: what a node writes now, and what earlier versions wrote, both load. */
import { describe, expect, it } from 'vitest'
import { DomainPersistence, CorruptReplicaError } from '../../src/persistence/persistence.js'
import type { LogEntry } from '../../src/replication/log.js'
import { seal, unseal } from '../../src/storage/checksum.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { decodeValue, encodeValue } from '../../src/wire/codec.js'

const entry = (seq: number, change: LogEntry['change'], key = `k${seq}`): LogEntry => ({ seq, epoch: 3, vs: 'shop', key, change })

describe('log segments', () => {
  it('are written as wire tuples and read back, every kind of change', async () => {
    const storage = new MemoryStorage()
    const p = new DomainPersistence(storage, 4, 1 << 20)
    await p.append([entry(1, { kind: 'put', value: { a: 1, b: { c: [1, 2] } } }), entry(2, { kind: 'patch', patches: [{ op: 'replace', path: ['a'], value: 2 }, { op: 'remove', path: ['b'] }] }, 'k1')])
    await p.append([entry(3, { kind: 'put', value: 'x' }), entry(4, { kind: 'delete' }, 'k3')])
    const stored = (await storage.list(['dom', '4'])).map((e) => decodeValue(unseal(e.value)!) as unknown[])
    expect(stored.every((batch) => batch.every(Array.isArray))).toBe(true)
    const state = await new DomainPersistence(storage, 4, 1 << 20).load()
    expect(state!.lastSeq).toBe(4)
    expect(state!.get('shop', 'k1')?.value).toEqual({ a: 2 })
    expect(state!.get('shop', 'k3')).toBeUndefined()
  })

  it('written by an earlier version (entry objects) still load, and a node goes on writing after them', async () => {
    const storage = new MemoryStorage()
    await storage.put(['dom', '4', 'seg', '000000000000001'], seal(encodeValue([entry(1, { kind: 'put', value: { n: 1 } }), entry(2, { kind: 'patch', patches: [{ op: 'add', path: ['m'], value: 5 }] }, 'k1')])))
    const p = new DomainPersistence(storage, 4, 1 << 20)
    const state = await p.load()
    expect(state!.get('shop', 'k1')?.value).toEqual({ n: 1, m: 5 })
    await p.append([entry(3, { kind: 'patch', patches: [{ op: 'replace', path: ['n'], value: 9 }] }, 'k1')])
    const again = await new DomainPersistence(storage, 4, 1 << 20).load()
    expect(again!.lastSeq).toBe(3)
    expect(again!.get('shop', 'k1')?.value).toEqual({ n: 9, m: 5 })
  })

  it('an element that is no entry makes the replica unusable (rebuilt from peers), never half-loaded', async () => {
    const storage = new MemoryStorage()
    await storage.put(['dom', '4', 'seg', '000000000000001'], seal(encodeValue([[1, 3, 'shop', 'k1', [7, 'what']]])))
    await expect(new DomainPersistence(storage, 4, 1 << 20).load()).rejects.toThrow(CorruptReplicaError)
  })
})
