/**
 * Several topology instances over a real 3-member etcd cluster, all as processes, with 3 peers
 * writing (replicas 2). Under the writes: kill -9 the leading topology instance and, during that
 * outage, a peer that leads domains (it must be failed over by the other instance); then an etcd
 * member that does not lead, then the etcd leader, each restarted. Then one more peer restart, so
 * views must still flow. At the end every acknowledged write is on the primary and every owner, and
 * the dead peer's domains were healed through etcd's views copy by copy.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { EtcdFaultCluster } from '../helpers/etcd-fault-cluster.js'
import { etcdAvailable, ETCD_MISSING } from '../helpers/etcd-cluster.js'
import { waitFor } from '../helpers/wait.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let cluster: EtcdFaultCluster | undefined
afterAll(async () => {
  await cluster?.close()
})

describe('topology instances over etcd, as processes, under faults', () => {
  it('kill -9 of an instance, an etcd member and the etcd leader: no acked write lost, views keep flowing, a peer killed meanwhile is failed over', { timeout: 150_000 }, async () => {
    if (!etcdAvailable()) throw new Error(ETCD_MISSING)
    const c = await EtcdFaultCluster.start({ instances: 2, peers: 3, replicas: 2, domains: 32, healDelayMs: 3000, heartbeatMs: 1000, writersPerPeer: 2, keysPerWriter: 4 })
    cluster = c
    // Heartbeats every second (the default): a node's lease is 3 s. A peer killed closes its socket
    // and is marked down at once; the lease only has to outlast a node's move to another instance,
    // and a busy machine's pauses (with 250 ms heartbeats, 2 s leases ran out under a load average
    // of 30 while their peers were alive).
    const timeline: string[] = []
    const t0 = Date.now()
    const log = (l: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s (epoch ${c.latestView()?.epoch ?? '?'}) ${l}`)
    const report = () => [...timeline, c.tails()].join('\n')
    expect(await c.settle(60_000), 'settled before the writes').toBeUndefined()
    c.startWriting()
    await sleep(2000)

    // 1. The leading instance dies; during its outage a peer that leads domains dies too.
    const leader = c.leaderInstance()
    expect(leader, report()).toBeDefined()
    const other = c.instanceNames.find((n) => n !== leader)!
    log(`kill -9 instance ${leader}`)
    const seenBefore = c.instanceOutput(other).length
    await c.killInstance(leader!)
    let victim = c.names[0]!
    for (const n of c.names) if (((await c.metrics(n))?.domainsPrimary ?? 0) > 0) victim = n
    log(`kill -9 peer ${victim}`)
    await c.killPeer(victim)
    await waitFor(() => c.leaderInstance() === other, `instance ${other} to lead`, 15_000).catch((e: Error) => expect.fail(`${e.message}\n${report()}`))
    // Failed over: the view shows it down, and the others lead every domain between them.
    await waitFor(() => new RegExp(`\\s${victim}\\(down\\)`).test(c.latestView()?.line ?? ''), `${victim} marked down`, 15_000).catch((e: Error) => expect.fail(`${e.message}\n${report()}`))
    log(`${victim} down: ${c.latestView()?.line}`)
    const leads = async () => {
      let sum = 0
      for (const n of c.alive()) sum += (await c.metrics(n))?.domainsPrimary ?? 0
      return sum
    }
    await waitFor(async () => (await leads()) === 32, 'the live peers to lead every domain', 15_000).catch((e: Error) => expect.fail(`${e.message}\n${report()}`))
    const ackedThen = c.ledger.acked
    await waitFor(() => c.ledger.acked > ackedThen + 50, 'writes acknowledged after the failover', 15_000)
    log('failed over; writes go on')
    // The nodes of the dead instance moved to the other one within their lease: none was marked down.
    const downs = c.instanceOutput(other).slice(seenBefore).filter((l) => /^(?:\[\S+\] )?view \d+:/.test(l)).flatMap((l) => [...l.matchAll(/(\S+)\(down\)/g)].map((m) => m[1]))
    expect(new Set(downs), report()).toEqual(new Set([victim]))
    // Past the heal delay the victim leaves the view and its domains are copied to the others.
    await waitFor(() => !new RegExp(`\\s${victim}(\\(down\\))?(\\s|$)`).test(c.latestView()?.line ?? ''), `${victim} to leave the view`, 15_000).catch((e: Error) => expect.fail(`${e.message}\n${report()}`))
    log(`${victim} left: ${c.latestView()?.line}`)
    await c.startInstance(leader!)
    await c.startPeer(victim)
    log(`restarted ${leader} and ${victim}`)
    await sleep(2000)

    // 2. An etcd member that does not lead, then the etcd leader.
    const etcdLeader = await c.etcd.leader()
    const follower = c.etcd.names().find((n) => n !== etcdLeader)!
    log(`kill -9 etcd member ${follower}`)
    await c.etcd.kill(follower)
    await sleep(2000)
    await c.etcd.restart(follower)
    await c.etcd.waitHealthy()
    const etcdLeader2 = await c.etcd.leader()
    log(`kill -9 the etcd leader ${etcdLeader2}`)
    await c.etcd.kill(etcdLeader2)
    await sleep(2000)
    await c.etcd.restart(etcdLeader2)
    await c.etcd.waitHealthy()
    log('etcd whole again')

    // 3. Views still flow: one more peer restart must be seen by everyone.
    const epochBefore = c.latestView()!.epoch
    await c.killPeer('p3')
    await sleep(500)
    await c.startPeer('p3')
    await waitFor(() => c.latestView()!.epoch > epochBefore + 1, 'views of p3 leaving and coming back', 15_000).catch((e: Error) => expect.fail(`${e.message}\n${report()}`))
    await sleep(1000)
    await c.stopWriting()
    log(`writers stopped: ${c.ledger.acked} acked, ${c.ledger.unknown} unknown`)
    if (process.env.DM_ETCD_VERBOSE) console.log([...timeline, ...c.instanceNames.flatMap((n) => [`--- ${n}`, ...c.instanceOutput(n).filter((l) => !/^(?:\[\S+\] )?view /.test(l))])].join('\n'))
    const history = await c.stateHistory()
    // One decider, fenced by the compare-and-set: etcd took the views in epoch order, one per
    // epoch, through every kill (a second instance publishing would repeat an epoch or go back).
    const epochs = history.map((h) => h.epoch)
    expect(epochs.filter((e, i) => i > 0 && e !== epochs[i - 1]! + 1), `epochs ${epochs.join(' ')}`).toEqual([])
    // Only the peers that were killed were ever marked down: no live peer lost its place while
    // its instance died, an etcd member died or the etcd leader did.
    const markedDown = new Set(history.flatMap((h) => h.down))
    const downLines = history.filter((h) => h.down.length > 0).map((h) => `epoch ${h.epoch}: down ${h.down.join(',')}`)
    const instanceLines = c.instanceNames.flatMap((n) => [`--- ${n}`, ...c.instanceOutput(n).filter((l) => !/^(?:\[\S+\] )?view /.test(l))])
    expect([...markedDown].filter((n) => n !== victim && n !== 'p3'), [...timeline, ...downLines, ...instanceLines].join('\n')).toEqual([])
    if (process.env.DM_ETCD_VERBOSE) {
      for (let i = 1; i < history.length; i++) {
        const [a, b] = [history[i - 1]!, history[i]!]
        const gained: string[] = []
        for (const [d, owners] of Object.entries(b.owners)) for (const n of owners) if (!(a.owners[Number(d)] ?? []).includes(n)) gained.push(`${d}+${n}`)
        console.log(`epoch ${b.epoch} rev ${b.revision} down [${b.down}] gained ${gained.join(' ')}`)
      }
    }
    // Healing went through etcd's views a domain copy or a few at a time, as each copy finished
    // (the live peers' queues copy one domain at a time: test/healing/healing-queue.test.ts), not
    // as one swap: from the victim's removal to its return, the views that gained owners.
    const removed = history.findIndex((h, i) => i > 0 && history[i - 1]!.down.includes(victim) && !h.members.includes(victim))
    expect(removed, `${victim} removed in etcd's history`).toBeGreaterThan(0)
    const back = history.findIndex((h, i) => i > removed && h.members.includes(victim))
    const healingViews = history.slice(removed, back === -1 ? undefined : back).map((h, i, all) => {
      const prev = i === 0 ? history[removed - 1]! : all[i - 1]!
      return Object.entries(h.owners).flatMap(([d, owners]) => owners.filter((n) => !(prev.owners[Number(d)] ?? []).includes(n)).map((n) => `${d}+${n}`))
    })
    const gained = healingViews.flat()
    expect(gained.length, `healing copies after ${victim} left`).toBeGreaterThan(0)
    expect(healingViews.filter((g) => g.length > 0).length, `views with healing copies: ${healingViews.map((g) => g.join(' ')).join(' | ')}`).toBeGreaterThan(1)
    const unsettled = await c.settle(45_000)
    expect(unsettled, report()).toBeUndefined()
    const r = await c.verify()
    const summary = [`acked ${r.acked} unknown ${r.unknown} lost ${r.lost} divergent ${r.divergent}`, ...r.findings.slice(0, 15), report()].join('\n')
    expect(r.acked, summary).toBeGreaterThan(500)
    expect({ lost: r.lost, divergent: r.divergent, absent: r.absent, absentDuringRun: r.absentDuringRun, refusedButApplied: r.phantom, failedReads: r.readErrors, harness: c.failures }, summary).toEqual({ lost: 0, divergent: 0, absent: 0, absentDuringRun: 0, refusedButApplied: 0, failedReads: 0, harness: [] })
  })
})
