/**
 * A topology service whose state store is slow (an fsync on a loaded disk) must not mark a
 * newcomer down before it could heartbeat: a node starts heartbeating at its welcome, which the
 * service sends only once the view naming the node is saved. Seen under load in the fault
 * schedules: a peer refused at start with "marked down", which ended its process.
 */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { TopologyService } from '../../src/server/topology-service.js'
import { MemoryTopologyStateStore, type TopologyState } from '../../src/server/topology-state.js'
import { TopologyClient } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import { FakeClock, flushMicrotasks, sleep } from '../../src/util/clock.js'

/** Every save takes `ms` of (fake) time. */
class SlowStore extends MemoryTopologyStateStore {
  constructor(
    private readonly clock: FakeClock,
    private readonly ms: number,
  ) {
    super()
  }
  override async save(state: TopologyState): Promise<void> {
    await sleep(this.clock, this.ms)
    await super.save(state)
  }
}

describe('a slow state store', () => {
  it('a node welcomed after a save longer than the failure detection is not marked down', async () => {
    const clock = new FakeClock(1_000_000)
    const service = new TopologyService({ clusterId: 'c1', secret: 's', clock, settings: { domainCount: 8, replicas: 2 }, healDelayMs: 5000, heartbeatMs: 1000, store: new SlowStore(clock, 4500) })
    await service.loaded
    const client = new TopologyClient({
      clusterId: 'c1',
      nodeId: nodeId('n1'),
      secret: 's',
      clock,
      engines: () => [],
      connect: async () => {
        const [node, svc] = localLinkPair()
        service.accept(svc)
        return node
      },
    })
    const joined = client.connect()
    let outcome: string | undefined
    joined.then(
      () => (outcome = 'welcomed'),
      (e: Error) => (outcome = `refused: ${e.message}`),
    )
    for (let t = 0; t < 12_000 && outcome === undefined; t += 100) {
      await flushMicrotasks(100)
      await new Promise((r) => setImmediate(r))
      await clock.advance(100)
    }
    expect(outcome).toBe('welcomed')
    // And it stays up while it heartbeats, through several more slow saves.
    for (let t = 0; t < 10_000; t += 100) {
      await flushMicrotasks(100)
      await clock.advance(100)
    }
    expect(service.view().members.map((m) => `${m.nodeId}:${m.status}`)).toEqual(['n1:up'])
    client.close()
    service.close()
  })
})
