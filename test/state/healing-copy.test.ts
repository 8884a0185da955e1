/** A healing copy that ships a log sends it in groups, with the event loop free between them. */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/state/domain-state.js'
import { COPY_GROUP, copyDomain } from '../../src/state/healing-copy.js'
import type { LogEntry } from '../../src/state/log.js'
import type { DomainReplica } from '../../src/state/replica.js'
import { FakeClock } from '../../src/util/clock.js'

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
      addBackup: () => undefined,
    } as unknown as DomainReplica
    const report = await copyDomain(replica, TARGET, clock, 200, 30_000, async () => ({ after: 0, afterEpoch: 0 }), () => true)
    expect(COPY_GROUP).toBe(128)
    expect(groups).toEqual([
      [1, 128],
      [129, 256],
      [257, 300],
    ])
    expect(report.bytes).toBeGreaterThan(300 * 10)
  })
})
