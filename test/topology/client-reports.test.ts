/**
 * Ownership reports survive a dropped topology link: a healed copy reported while the link was
 * down is reported again on the next welcome, so the domain does not stay short of a copy.
 */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { TopologyClient } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import { domainRoles } from '../../src/topology/placement.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import { FakeClock, flushMicrotasks } from '../../src/util/clock.js'

const SETTINGS = { domainCount: 8, replicas: 2 }

describe('topology client reports', () => {
  it('an owned report made while the link is down reaches the service after the reconnect', async () => {
    const clock = new FakeClock(1_000_000)
    const service = new TopologyService({ clusterId: 'c1', secret: 's3cret', clock, settings: SETTINGS, healDelayMs: 60_000, heartbeatMs: 1000 })
    const links = new Map<string, TopologyLink>()
    const client = (name: string) =>
      new TopologyClient({
        clusterId: 'c1',
        nodeId: nodeId(name),
        secret: 's3cret',
        clock,
        engines: () => [],
        reconnectMs: 100,
        connect: async () => {
          const [node, svc] = localLinkPair()
          service.accept(svc)
          links.set(name, node)
          return node
        },
      })
    const settle = async (ms = 0) => {
      await flushMicrotasks(100)
      if (ms) await clock.advance(ms)
      await flushMicrotasks(100)
    }
    const a = client('a')
    await a.connect()
    await settle()
    await client('b').connect()
    await settle()
    const view = service.view()
    const d = [...Array(SETTINGS.domainCount).keys()].find((x) => domainRoles(view, SETTINGS, x).primary === 'a' && domainRoles(view, SETTINGS, x).healing.includes(nodeId('b')))!
    expect(d).toBeDefined()
    links.get('a')!.close('network blip')
    await settle()
    expect(a.connected).toBe(false)
    a.owned(d, nodeId('b')) // the copy finished while the link was down
    await settle(500) // a reconnects
    expect(a.connected).toBe(true)
    await settle(100)
    expect(service.view().owners?.[d]).toContain('b')
    a.close()
    service.close()
  })
})
