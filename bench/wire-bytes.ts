/**
 * Bytes for one small change to a large object (about 100 KB of JSON): a one-leaf patch against a
 * whole-object put in domainmesh (frame bytes sent by all nodes, replicas 3), and the update each
 * CRDT produces for the same change (the payload it sends to each peer, before any envelope).
 */
import * as A from '@automerge/automerge'
import * as Y from 'yjs'
import type { BenchCluster } from './cluster.js'

export const bigObject = () => ({ items: Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `item number ${i}`, note: 'x'.repeat(60) })) })

/** Five of each: the window also catches the odd RTT probe, so one sample can be ~300 bytes high. */
export async function domainmeshBytes(c: BenchCluster, runs = 5): Promise<{ patch: number[]; put: number[]; jsonBytes: number }> {
  const store = c.driver.store('bench-bytes')
  const big = bigObject()
  await store.put('big', big)
  const measure = async (change: () => Promise<unknown>) => {
    await new Promise((r) => setTimeout(r, 300)) // let the previous step's acks and heartbeats pass
    const before = await c.bytesOut()
    await change()
    await new Promise((r) => setTimeout(r, 300))
    return (await c.bytesOut()) - before
  }
  const patch: number[] = []
  const put: number[] = []
  for (let i = 0; i < runs; i++) {
    patch.push(await measure(() => store.patch('big', [{ op: 'replace', path: ['items', 500, 'name'], value: `renamed ${i}` }])))
    big.items[500]!.name = `renamed again ${i}`
    put.push(await measure(() => store.put('big', big)))
  }
  return { patch, put, jsonBytes: JSON.stringify(big).length }
}

export function yjsUpdateBytes(): number {
  const doc = new Y.Doc()
  const root = doc.getMap<Y.Map<unknown>>('root')
  const items = new Y.Array<Y.Map<unknown>>()
  root.set('big', new Y.Map([['items', items]]) as never)
  items.push(bigObject().items.map((it) => new Y.Map(Object.entries(it))))
  let size = 0
  doc.on('update', (u: Uint8Array) => (size = u.byteLength))
  items.get(500).set('name', 'renamed')
  return size
}

export function automergeChangeBytes(): number {
  let doc = A.from(bigObject())
  doc = A.change(doc, (d) => {
    d.items[500]!.name = 'renamed'
  })
  return A.getLastLocalChange(doc)!.byteLength
}
