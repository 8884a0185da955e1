/**
 * A topology service that hangs (a stopped process, a machine cut off) closes no socket. A node
 * on it must notice from the missing answers to its heartbeats and reconnect (to the next
 * instance, with a list), not follow it for ever; and a node whose own timers came late (its
 * process was stopped) must not take its own silence for the service's.
 */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { TopologyClient } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'
import { ProcessClock } from '../helpers/process-clock.js'

const SETTINGS = { domainCount: 8, replicas: 2 }

function setup(missedHeartbeats = 3) {
  const clock = new FakeClock(1_000_000)
  const service = new TopologyService({ clusterId: 'c1', secret: 's3cret', clock, settings: SETTINGS, healDelayMs: 60_000, heartbeatMs: 1000, missedHeartbeats })
  /** While set, what the service sends waits (it hangs, or the node does not read its socket). */
  const hung = { now: false }
  const waiting: (() => void)[] = []
  const release = () => {
    hung.now = false
    for (const f of waiting.splice(0)) f()
  }
  /** The node process's clock: it can be stopped, as with SIGSTOP. */
  const nodeClock = new ProcessClock(clock)
  let connects = 0
  const client = new TopologyClient({
    clusterId: 'c1',
    nodeId: nodeId('a'),
    secret: 's3cret',
    clock: nodeClock,
    engines: () => [],
    reconnectMs: 100,
    connect: async () => {
      connects++
      const [node, svc] = localLinkPair()
      const held: TopologyLink = {
        send: (m) => svc.send(m),
        close: (r) => svc.close(r),
        onMessage: (h) => svc.onMessage(h),
        onClose: (h) => svc.onClose(h),
      }
      // The service's end sends through a gate the test can shut.
      const send = svc.send.bind(svc)
      svc.send = (m: object) => (hung.now ? void waiting.push(() => send(m)) : send(m))
      service.accept(held)
      return node
    },
  })
  const disconnects: string[] = []
  client.events.on('disconnected', ({ reason }) => disconnects.push(reason))
  const settle = async (ms = 0) => {
    await flushMicrotasks(100)
    if (ms) await clock.advance(ms)
    await flushMicrotasks(100)
  }
  return { clock, nodeClock, service, client, hung, release, disconnects, settle, connects: () => connects }
}

describe('a topology service that stops answering', () => {
  it('the node notices within a few heartbeats and connects again', async () => {
    const s = setup()
    await s.client.connect()
    await s.settle(5000) // heartbeats answered: nothing happens
    expect(s.disconnects).toEqual([])
    s.hung.now = true
    for (let t = 0; t < 5000 && s.disconnects.length === 0; t += 250) await s.settle(250)
    expect(s.disconnects).toEqual([expect.stringMatching(/^the topology service did not answer for \d+ ms$/)])
    s.release()
    await s.settle(1000)
    expect(s.connects()).toBe(2)
    expect(s.client.connected).toBe(true)
    s.client.close()
    s.service.close()
  })

  it('a node whose own heartbeat timer fired late does not blame the service', async () => {
    // A service patient enough not to mark the node down for the pause, so that only the
    // node's own judgement could drop the link.
    const s = setup(10)
    await s.client.connect()
    await s.settle(3000)
    // The node's process is stopped for 5 s; on resume its overdue heartbeat timer fires
    // before it reads what the service sent meanwhile. It sends a heartbeat and judges nothing.
    s.nodeClock.pause()
    s.hung.now = true
    await s.settle(5000)
    s.nodeClock.resume()
    await s.settle()
    s.release()
    await s.settle(5000)
    expect(s.disconnects).toEqual([])
    expect(s.connects()).toBe(1)
    s.client.close()
    s.service.close()
  })
})
