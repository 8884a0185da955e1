/** The console's healing lines over a long round, on a fake clock: few lines, and each says how far it is. */
import { describe, expect, it } from 'vitest'
import { HealingConsole, TopologyConsole, type ConsoleOut } from '../../src/cli/console.js'
import { nodeId, type NodeId } from '../../src/ids.js'
import type { View } from '../../src/topology/view.js'
import { FakeClock } from '../../src/util/clock.js'

function capture(): { out: ConsoleOut; info: string[]; debug: string[] } {
  const info: string[] = []
  const debug: string[] = []
  return { out: { info: (l) => info.push(l), debug: (ns) => (l) => debug.push(`${ns}: ${l}`) }, info, debug }
}

describe('HealingConsole', () => {
  it('a long round: started, a progress line every 10 s with bytes and rate, finished; each copy only as debug', () => {
    const clock = new FakeClock(1_000_000)
    const c = capture()
    const healing = new HealingConsole(c.out, clock)
    const target = nodeId('n2')
    const startedAt = clock.now()
    for (let done = 1; done <= 100; done++) {
      clock.now = () => startedAt + done * 500 // one copy every 500 ms: 50 s in all
      healing.progress({ domainsDone: done, domainsTotal: 100, bytes: done * 10_240, inProgress: done < 100, maxLockMs: 1, startedAt, domain: done, target, queuedMs: 0, pauseMs: 0 })
    }
    expect(c.info[0]).toBe('healing started: 100 domain copies planned (to n2 first)')
    const progress = c.info.filter((l) => l.startsWith('healing: '))
    expect(progress).toHaveLength(4) // at 10, 20, 30 and 40 s
    expect(progress[0]).toBe('healing: 20/100 domain copies done, 200.0 kB, 20.0 kB/s, 10.0 s so far')
    expect(c.info.at(-1)).toBe('healing finished: 100 domain copies to n2, 1000.0 kB in 50.0 s')
    expect(c.info).toHaveLength(6)
    expect(c.debug.filter((l) => l.startsWith('healing: '))).toHaveLength(100)
  })

  it('a failed copy is retried quietly and counted in the finished line', () => {
    const clock = new FakeClock(5000)
    const c = capture()
    const healing = new HealingConsole(c.out, clock)
    const base = { bytes: 0, maxLockMs: 0, startedAt: 5000, target: nodeId('n3') as NodeId, queuedMs: 0, pauseMs: 0 }
    healing.progress({ ...base, domainsDone: 1, domainsTotal: 3, inProgress: true, domain: 0, error: new Error('timed out') })
    const copy = { bytes: 0, lockMs: 1, as: 'nothing' as const, tookMs: 1210, positionMs: 1200, waitedMs: 0, resends: 0 }
    healing.progress({ ...base, domainsDone: 2, domainsTotal: 3, inProgress: true, domain: 1, queuedMs: 40, pauseMs: 10, copy })
    healing.progress({ ...base, domainsDone: 3, domainsTotal: 3, inProgress: false, domain: 0, bytes: 2048 })
    expect(c.info).toEqual(['healing started: 3 domain copies planned (to n3 first)', 'healing finished: 2 domain copies to n3, 2.0 kB in 1 ms, 1 retried'])
    expect(c.debug[0]).toBe('healing: copy of domain 0 to n3 failed (timed out); will retry')
    // Where a copy's time went: here, waiting for the target to answer (its link was opening).
    expect(c.debug[1]).toBe("healing: 2/3 domain copies done (0 bytes); domain 1 to n3: the target had it all; queued 40 ms, took 1.2 s (target's position 1.2 s, waiting for acks 0 ms, 0 resends, locked 1 ms), then a pause of 10 ms")
  })
})

describe('TopologyConsole', () => {
  const settings = { domainCount: 4, replicas: 2 }
  const member = (id: string, status: 'up' | 'down' = 'up') => ({ nodeId: nodeId(id), status, engines: [], durable: true })
  const owners = (o: Record<number, string[]>) => Object.fromEntries(Object.entries(o).map(([d, ns]) => [d, ns.map((n) => nodeId(n))]))

  it('prints membership views and the cluster-wide healing, not the views that only move owners', () => {
    const clock = new FakeClock(0)
    const c = capture()
    const t = new TopologyConsole(c.out, clock, settings, 5000)
    const all = { 0: ['a', 'b'], 1: ['a', 'b'], 2: ['a', 'b'], 3: ['a', 'b'] }
    t.view({ epoch: 1, members: [member('a'), member('b')], owners: owners(all) })
    t.view({ epoch: 2, members: [member('a'), member('b'), member('c')], owners: owners(all) })
    const first = c.info.length
    // Owners catch up with placement one copy at a time: no view lines, one finished line.
    let epoch = 3
    const now: Record<number, string[]> = { ...all }
    for (let d = 0; d < 4; d++) {
      now[d] = ['a', 'b', 'c']
      clock.now = () => epoch * 1000
      t.view({ epoch: epoch++, members: [member('a'), member('b'), member('c')], owners: owners(now) })
    }
    expect(c.info.slice(0, first)).toEqual(['view 1: a b', 'view 2: a b c', expect.stringMatching(/^cluster healing: \d+ domain cop(y|ies) to make$/)])
    expect(c.info.slice(first)).toEqual([expect.stringMatching(/^cluster healing finished: every domain has its copies \(\d+ cop(y|ies) in [\d.]+ m?s\)$/)])
    expect(c.debug).toContain('topology: view 3: owners changed')
    t.view({ epoch: epoch++, members: [member('a'), member('b'), member('c', 'down')], owners: owners(now) })
    t.view({ epoch: epoch++, members: [member('a'), member('b')], owners: owners(all) })
    expect(c.info.slice(first + 1)).toEqual([
      'c is down: its domains fail over now; unless it returns within 5.0 s, healing copies them to the others',
      `view ${epoch - 2}: a b c(down)`,
      'c left the view (down for 5.0 s)',
      `view ${epoch - 1}: a b`,
    ])
  })
})
