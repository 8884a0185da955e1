/** The healing queue copies one domain at a time and pauses between copies, so writes get through. */
import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../src/ids.js'
import { DomainState } from '../../src/replication/domain-state.js'
import { AckWaiters } from '../../src/replication/ack-waiters.js'
import { HealingQueue } from '../../src/healing/healing.js'
import type { DomainReplica } from '../../src/replication/replica.js'
import { FakeClock, sleep } from '../../src/util/clock.js'

const TARGET = 'n2' as NodeId
const COPY_MS = 40

/** A primary whose every copy takes COPY_MS of (fake) time; records when each copy started. */
function fakeReplica(domain: number, clock: FakeClock, starts: number[]): DomainReplica {
  return {
    role: 'primary',
    domain,
    primary: 'n1',
    state: new DomainState(domain),
    acked: {
      expectNothing: () => undefined,
      until: async (_to: NodeId, _upTo: number, _deadline: number, _what: string, send: () => void) => {
        send()
        await sleep(clock, COPY_MS / 2)
      },
    },
    encodeSnapshotParts: async () => {
      starts.push(clock.now())
      return [new Uint8Array(100)]
    },
    sendSnapshotPart: () => undefined,
    sendEntriesTo: () => undefined,
    lock: () => () => undefined,
    holdLog: () => () => undefined,
    addBackup: () => undefined,
  } as unknown as DomainReplica
}

async function copyTimes(pauseRatio: number, positionMs = 0, urgent?: (d: number) => boolean, order: number[] = []): Promise<number[]> {
  const clock = new FakeClock()
  const starts: number[] = []
  const replicas = [0, 1, 2].map((d) => fakeReplica(d, clock, starts))
  const queue = new HealingQueue(
    { replica: (d) => replicas[d], wanted: () => true, progress: (p) => order.push(p.domain), copied: () => undefined, positionOf: () => sleep(clock, positionMs).then(() => undefined), ...(urgent ? { urgent } : {}) },
    clock,
    200,
    30_000,
    pauseRatio,
  )
  for (const d of [0, 1, 2]) queue.plan(d, TARGET)
  for (let i = 0; i < 1000 && queue.progress().inProgress; i++) await clock.advance(10)
  expect(queue.progress()).toMatchObject({ domainsDone: 3, inProgress: false })
  return starts
}

describe('healing queue', () => {
  it('pauses after each copy as long as the copy took', async () => {
    expect(await copyTimes(1)).toEqual([0, 2 * COPY_MS, 4 * COPY_MS])
  })

  it('pauses only for the work: not for the time spent waiting for the target to answer', async () => {
    // Each copy waits 1 s for the target's position (its link still opening), then works COPY_MS.
    // The snapshot of copy n is encoded once that wait is over.
    expect(await copyTimes(1, 1000)).toEqual([1000, 1000 + COPY_MS + COPY_MS + 1000, 2 * (1000 + 2 * COPY_MS) + 1000])
  })

  it('copies a domain no other up member holds first, and without the pause after it', async () => {
    // Domain 2 is held by this node alone: a crash now would take the only copy of its writes.
    // Domain 0's copy starts as it is planned; domain 2's comes next, and domain 1's right after.
    const order: number[] = []
    expect(await copyTimes(1, 0, (d) => d === 2, order)).toEqual([0, 2 * COPY_MS, 3 * COPY_MS])
    expect(order).toEqual([0, 2, 1])
  })

  it('copies back to back with a ratio of 0', async () => {
    expect(await copyTimes(0)).toEqual([0, COPY_MS, 2 * COPY_MS])
  })

  it('stops a copy once the view drops its target, and goes on to the next one without a pause', async () => {
    const clock = new FakeClock()
    const starts: number[] = []
    const replicas = [0, 1].map((d) => fakeReplica(d, clock, starts))
    // Domain 0's target never acks (it went down, say): the real waiter resends until the deadline.
    Object.assign(replicas[0]!, { acked: new AckWaiters(clock, 200) })
    replicas[0]!.state.apply({ seq: 1, epoch: 1, vs: 'v', key: 'k', change: { kind: 'put', value: 1 } })
    const errors: unknown[] = []
    const queue = new HealingQueue(
      {
        replica: (d) => replicas[d],
        wanted: (d) => d !== 0 || clock.now() < 300,
        progress: (p) => p.error !== undefined && errors.push(p.error),
        copied: () => undefined,
        positionOf: async () => undefined,
      },
      clock,
      200,
      30_000,
      1,
    )
    for (const d of [0, 1]) queue.plan(d, TARGET)
    for (let i = 0; i < 100 && queue.progress().inProgress; i++) await clock.advance(10)
    expect(queue.progress()).toMatchObject({ domainsDone: 2, inProgress: false })
    expect(errors).toMatchObject([{ name: 'CopyNotWantedError', code: 'COPY_NOT_WANTED' }])
    // Stopped at the first resend after the view changed (400), not at the 30 s deadline.
    expect(starts).toEqual([0, 400])
  })

  it('a target this node has no link to yet holds no copy back: the others go first, its own start when the link opens', async () => {
    const clock = new FakeClock()
    const order: string[] = []
    const replicas = [0, 1, 2].map((d) => fakeReplica(d, clock, []))
    const linked = new Set<NodeId>([TARGET])
    const late = 'n3' as NodeId
    const queue = new HealingQueue(
      {
        replica: (d) => replicas[d],
        wanted: () => true,
        progress: (p) => order.push(`${p.domain}->${p.target}@${clock.now()}`),
        copied: () => undefined,
        positionOf: async () => undefined,
        reachable: (n) => linked.has(n),
      },
      clock,
      200,
      30_000,
      0,
    )
    queue.plan(0, late)
    queue.plan(1, TARGET)
    queue.plan(2, late)
    for (let i = 0; i < 10; i++) await clock.advance(10)
    expect(order).toEqual([`1->${TARGET}@${COPY_MS}`])
    // The link opens at 100: both copies to n3 follow at once, not at a resend or poll interval.
    linked.add(late)
    queue.wake()
    for (let i = 0; i < 20 && queue.progress().inProgress; i++) await clock.advance(10)
    expect(order).toEqual([`1->${TARGET}@${COPY_MS}`, `0->${late}@${100 + COPY_MS}`, `2->${late}@${100 + 2 * COPY_MS}`])
  })
})
