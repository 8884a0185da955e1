/**
 * A healing copy of a big domain goes as a snapshot in parts: the new owner puts the parts together
 * and ends up with every object, including writes made while the parts were on their way.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SnapshotAssembly } from '../../src/persistence/snapshot-assembly.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await c?.close()
  c = undefined
})

describe('snapshot copies', () => {
  it('reach a joining node in parts, and it holds every object and every write made meanwhile', async () => {
    // One domain, compacted often and keeping no log: the copy to a new node must be a snapshot.
    c = await ServiceCluster.start(['a', 'b'], { replicas: 3, domainCount: 1, store: { retainEntries: 0, compactBytes: 1024 } })
    const s = c.node('a').store('shop')
    for (let k = 0; k < 400; k++) await c.run(s.put(`k${k}`, { v: k, name: `object ${k}` }))
    const parts: string[] = []
    const add = SnapshotAssembly.prototype.add
    vi.spyOn(SnapshotAssembly.prototype, 'add').mockImplementation(function (this: SnapshotAssembly, ...args) {
      parts.push(`${args[2]}/${args[3]}`)
      return add.apply(this, args)
    })
    const failed: string[] = []
    for (const n of c.nodes.values()) n.state.events.on('healing', ({ error }) => error !== undefined && failed.push(String(error)))
    const e = await c.startNode('e')
    // Writes go on while the parts travel (each part waits healPieceGapMs of fake time).
    let k = 0
    while (e.health().underReplicated.length > 0 || k < 20) {
      await c.run(s.patch(`k${k % 400}`, [{ op: 'replace', path: ['v'], value: 1000 + k }]))
      k++
      if (k > 500) break
    }
    await c.settleHealing()
    // No copy failed: compactions meanwhile did not take the entries its locked delta needs.
    expect(failed).toEqual([])
    // 400 objects in parts of 16, 32, 64, then 128 (partSizes): six parts, each taken once (a
    // resend may repeat them).
    expect(new Set(parts)).toEqual(new Set(['0/6', '1/6', '2/6', '3/6', '4/6', '5/6']))
    expect(e.state.stats.snapshotsInstalled).toBeGreaterThanOrEqual(1)
    const expected = (i: number) => {
      const last = [...Array(k).keys()].filter((j) => j % 400 === i).at(-1)
      return { v: last === undefined ? i : 1000 + last, name: `object ${i}` }
    }
    for (let i = 0; i < 400; i++) expect(e.state.readLocal('shop' as never, `k${i}`).obj?.value).toEqual(expected(i))
  })
})
