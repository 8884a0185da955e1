/** A healing copy ships a log in groups and a snapshot in parts, with the event loop free between them. */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import { COPY_GROUP, copyDomain } from '../../src/healing/healing-copy.js'
import type { LogEntry } from '../../src/replication/log.js'
import type { DomainReplica } from '../../src/replication/replica.js'
import { FakeClock, RealClock } from '../../src/util/clock.js'
import { nodeId } from '../../src/ids.js'
import { StoreCluster } from '../helpers/store-cluster.js'

const TARGET = 'n2' as NodeId

describe('healing copy', () => {
  it('sends a whole log in groups and reports its size', async () => {
    const clock = new FakeClock()
    const state = new DomainState(0)
    for (let seq = 1; seq <= 300; seq++) state.apply({ seq, epoch: 1, vs: 'v', key: `k${seq}`, change: { kind: 'put', value: seq } })
    const groups: number[][] = []
    let acked = 0
    const replica = {
      role: 'primary',
      domain: 0,
      primary: 'n1',
      state,
      acked: {
        // Acks what was sent once every group is out; the lock phase sends the (empty) delta.
        until: async (_to: NodeId, upTo: number, _d: number, _w: string, send: () => void) => {
          send()
          while (acked < upTo) await new Promise((r) => setTimeout(r, 0))
        },
      },
      sendEntriesTo: (_to: NodeId, entries: LogEntry[]) => {
        if (entries.length > 0) groups.push([entries[0]!.seq, entries.at(-1)!.seq])
        acked = Math.max(acked, entries.at(-1)?.seq ?? 0)
      },
      lock: () => () => undefined,
      holdLog: () => () => undefined,
      addBackup: () => undefined,
    } as unknown as DomainReplica
    const report = await copyDomain(replica, TARGET, { clock, intervalMs: 200, timeoutMs: 30_000, pieceGapMs: 0, positionOf: async () => ({ after: 0, afterEpoch: 0 }), wanted: () => true })
    expect(COPY_GROUP).toBe(128)
    expect(groups).toEqual([
      [1, 128],
      [129, 256],
      [257, 300],
    ])
    expect(report.bytes).toBeGreaterThan(300 * 10)
  })

  it('sends a snapshot in parts, one per event-loop turn, and none once the target has acked', async () => {
    // Real time: a pause between parts is a turn of the event loop (setImmediate), as in a node.
    const clock = new RealClock()
    const state = new DomainState(0)
    for (let seq = 1; seq <= 1000; seq++) state.apply({ seq, epoch: 1, vs: 'v', key: `k${seq}`, change: { kind: 'put', value: seq } })
    const sent: string[] = []
    let acked = 0
    let sends = 0
    const replica = {
      role: 'primary',
      domain: 0,
      primary: 'n1',
      state,
      encodeSnapshotParts: async () => Array.from({ length: 8 }, () => new Uint8Array(50)),
      acked: {
        expectNothing: () => undefined,
        until: async (_to: NodeId, upTo: number, _d: number, _w: string, send: () => void) => {
          if (upTo !== 1000 || acked >= upTo) return
          // A resend comes while the first run is still out, and another after the target acked.
          send()
          sends++
          await new Promise((r) => setImmediate(r))
          send()
          while (sent.length < 5) await new Promise((r) => setImmediate(r))
          acked = upTo
          sent.push('ack')
        },
      },
      sendSnapshotPart: (_to: NodeId, _bytes: Uint8Array, part: number, parts: number) => {
        expect(parts).toBe(8)
        sent.push(`${part}`)
      },
      sendEntriesTo: () => undefined,
      lock: () => () => undefined,
      holdLog: () => () => undefined,
      addBackup: () => undefined,
    } as unknown as DomainReplica
    const report = await copyDomain(replica, TARGET, { clock, intervalMs: 200, timeoutMs: 30_000, pieceGapMs: 0, positionOf: async () => undefined, wanted: () => true })
    await new Promise((r) => setTimeout(r, 20))
    expect(sends).toBe(1)
    // Never two parts in one event-loop pass; the ack (taken a pass after part 4 went out) stops the run.
    expect(sent).toEqual(['0', '1', '2', '3', '4', 'ack'])
    expect(report.bytes).toBe(400)
  })

  it('a target whose own copy holds other data installs the primary\'s, even when the primary\'s domain is empty', async () => {
    // b's disk comes from another cluster's history: a copy of the domain the primary never wrote.
    const old = await StoreCluster.start(['a', 'b'], { domainCount: 1 })
    for (let i = 0; i < 5; i++) await old.node('a').store('shop').put(`k${i}`, i)
    await old.settle()
    const c = await StoreCluster.start(['a'], { domainCount: 1 })
    c.disks.set(nodeId('b'), old.disks.get(nodeId('b'))!)
    await old.close()
    expect(c.node('a').state.domains()[0]?.lastSeq ?? 0).toBe(0)
    const b = await c.startNode('b')
    expect(b.state.domains()[0]?.lastSeq).toBe(5)
    await c.publish()
    for (let t = 0; t < 100 && !c.owners.get(0)?.includes(nodeId('b')); t++) await c.settle()
    expect(c.owners.get(0)).toContain('b')
    expect(b.state.domains()[0]?.lastSeq).toBe(0)
    expect(b.state.readLocal('shop' as never, 'k1').obj).toBeUndefined()
    await c.close()
  })
})
