/**
 * Several topology instances over a real 3-member etcd cluster (test/helpers/etcd-cluster.ts),
 * nodes in this process on a MemoryNetwork, joined over WebSocket with a list of instance URLs.
 */
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId, type NodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { EtcdConfigMismatchError, nodeTopologyConnector, startTopologyServer, type EtcdTopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { nodeKeyHash } from '../../src/server/node-keys.js'
import { TopologyClient } from '../../src/topology/client.js'
import type { TopologyLink } from '../../src/topology/protocol.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { EtcdCluster, etcdAvailable, ETCD_MISSING } from '../helpers/etcd-cluster.js'
import { waitFor } from '../helpers/wait.js'

const SECRET = 'etcd-secret'
let etcd: EtcdCluster
let prefixes = 0

beforeAll(async () => {
  if (!etcdAvailable()) throw new Error(ETCD_MISSING)
  etcd = await EtcdCluster.start(3)
}, 30_000)
afterAll(async () => {
  await etcd?.close()
})

// Heartbeats every second (a node's lease is 3 s): a busy machine running other tests beside these
// must not mark a live node down. A node that closes is marked down at once all the same.
class Setup {
  readonly servers: (EtcdTopologyServer | undefined)[] = []
  readonly nodes = new Map<string, MeshNode>()
  readonly net = new MemoryNetwork({ clock: new RealClock() })
  readonly prefix = `t${++prefixes}-${process.pid}`
  urls: string[] = []

  async startInstances(n: number): Promise<void> {
    for (let i = 0; i < n; i++) this.servers.push(await this.instance())
    this.urls = this.servers.map((s) => s!.url)
  }

  instance(port = 0): Promise<EtcdTopologyServer> {
    return startTopologyServer({ clusterId: 'ec', secret: SECRET, settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 1000, healDelayMs: 1500, port, etcd: { hosts: etcd.urls, prefix: this.prefix, leaseTtlSeconds: 2 } })
  }

  async join(name: string, urls = this.urls): Promise<MeshNode> {
    const node = new MeshNode({
      clusterId: clusterId('ec'),
      nodeId: nodeId(name),
      transport: this.net.createTransport(),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { connect: nodeTopologyConnector(urls), secret: SECRET },
    })
    await node.start()
    this.nodes.set(name, node)
    return node
  }

  leader(): EtcdTopologyServer {
    const l = this.servers.filter((s) => s?.instance.leading)
    if (l.length !== 1) throw new Error(`${l.length} leaders`)
    return l[0]!
  }

  /** The instance a node is attached to. */
  gatewayOf(name: string): number {
    return this.servers.findIndex((s) => s?.instance.nodes().includes(name as NodeId))
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await n.close()
    for (const s of this.servers) await s?.close()
  }
}

const upIn = (n: MeshNode, who: string[]) => {
  const v = n.topology.view()
  return who.every((w) => v.members.some((m) => m.nodeId === w && m.status === 'up'))
}

describe('topology instances over etcd', () => {
  it('an instance with another secret, other settings or other timings than the cluster does not start', async () => {
    const prefix = `cfg-${process.pid}`
    const base = { clusterId: 'ec', secret: SECRET, settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 1000, healDelayMs: 1500 }
    const start = (o: Partial<typeof base>) => startTopologyServer({ ...base, ...o, port: 0, etcd: { hosts: etcd.urls, prefix, leaseTtlSeconds: 2 } })
    const first = await start({})
    try {
      const refused = async (o: Partial<typeof base>, why: RegExp) => {
        const err = await start(o).then(
          async (s) => (await s.close(), undefined),
          (e: unknown) => e,
        )
        expect(err).toBeInstanceOf(EtcdConfigMismatchError)
        expect((err as Error).message).toMatch(why)
        expect((err as Error).message).not.toContain('another-secret')
      }
      await refused({ secret: 'another-secret' }, /another cluster secret/)
      await refused({ settings: { domainCount: 8, replicas: 3 } }, /replicas 3 \(here|replicas 2 \(here 3\)/)
      await refused({ settings: { domainCount: 16, replicas: 2 } }, /domainCount/)
      await refused({ healDelayMs: 60_000 }, /healDelayMs 1500 \(here 60000\)/)
      // The same options: a second instance starts.
      const second = await start({})
      await second.close()
    } finally {
      await first.close()
    }
    // With no instance running, the cluster in etcd still remembers its secret.
    const alone = await start({ secret: 'another-secret' }).then(
      async (s) => (await s.close(), undefined),
      (e: unknown) => e,
    )
    expect(alone).toBeInstanceOf(EtcdConfigMismatchError)
  })

  it('nodes on different instances share one view, signal and write across them', async () => {
    const s = new Setup()
    try {
      await s.startInstances(2)
      const a = await s.join('a', [s.urls[0]!])
      const b = await s.join('b', [s.urls[1]!])
      // Each view reaches a and b through a different instance, so one may see it a moment later.
      await waitFor(() => upIn(a, ['a', 'b']) && upIn(b, ['a', 'b']) && a.health().safe && b.health().safe && a.topology.view().epoch === b.topology.view().epoch, 'both nodes in one view, healed')
      expect(s.gatewayOf('a')).toBe(0)
      expect(s.gatewayOf('b')).toBe(1)
      await a.store('shop').put('k', { v: 1 })
      expect(await b.store('shop').get('k')).toEqual({ v: 1 })
      // A signal (WebRTC's offers and answers travel this way) from a to b crosses instances through etcd.
      const got: unknown[] = []
      b.topologyClient!.events.on('signal', ({ from, data }) => got.push([from, data]))
      const viaEtcd = s.servers[0]!.instance.stats.signalsViaEtcd
      a.topologyClient!.signal(nodeId('b'), { sdp: 'x' })
      await waitFor(() => got.length === 1, 'the signal at b')
      expect(got).toEqual([['a', { sdp: 'x' }]])
      expect(s.servers[0]!.instance.stats.signalsViaEtcd).toBe(viaEtcd + 1)
      // A burst arrives in the order sent (a WebRTC answer before its candidates): etcd orders
      // concurrent puts as they commit, so the instance puts one node's mail one at a time.
      for (let i = 0; i < 200; i++) a.topologyClient!.signal(nodeId('b'), { n: i })
      await waitFor(() => got.length === 201, 'the burst at b', 20_000)
      expect(got.slice(1).map((g) => ((g as [string, { n: number }])[1]).n)).toEqual(Array.from({ length: 200 }, (_, i) => i))
      // Between two nodes on one instance it goes directly.
      const c = await s.join('c', [s.urls[1]!])
      await waitFor(() => upIn(c, ['a', 'b', 'c']) && upIn(b, ['c']), 'c in the view')
      const fromC: unknown[] = []
      b.topologyClient!.events.on('signal', ({ from }) => fromC.push(from))
      const [direct, etcdBefore] = [s.servers[1]!.instance.stats.signalsRelayed, s.servers[1]!.instance.stats.signalsViaEtcd]
      c.topologyClient!.signal(nodeId('b'), { sdp: 'y' })
      await waitFor(() => fromC.includes('c'), 'the signal from c at b')
      expect(s.servers[1]!.instance.stats.signalsRelayed).toBe(direct + 1)
      expect(s.servers[1]!.instance.stats.signalsViaEtcd).toBe(etcdBefore)
      // Exactly one instance runs the service logic.
      expect(s.leader()).toBeDefined()
    } finally {
      await s.close()
    }
  })

  it('a node id that is live is taken over only with its node key: an impostor on another instance is refused, the same key replaces the old link at once', async () => {
    const s = new Setup()
    const clock = new RealClock()
    // A node as a bare topology client; `kill` stops it without closing its socket (kill -9 before the kernel says so).
    const client = (name: string, key: string, url: string) => {
      let dead = false
      const c = new TopologyClient({
        clusterId: 'ec',
        nodeId: nodeId(name),
        secret: SECRET,
        key,
        clock,
        engines: () => [],
        connect: async (): Promise<TopologyLink> => {
          const link = await nodeTopologyConnector([url])()
          return { send: (m) => !dead && link.send(m), close: (r) => (dead ? undefined : link.close(r)), onMessage: (h) => link.onMessage((m) => !dead && h(m)), onClose: (h) => link.onClose((r) => !dead && h(r)) }
        },
      })
      const signals: unknown[] = []
      c.events.on('signal', ({ from, data }) => signals.push([from, data]))
      return { c, signals, kill: () => void (dead = true), close: () => ((dead = false), c.close()) }
    }
    const started: { close: () => void }[] = []
    try {
      await s.startInstances(2)
      const b = await s.join('b', [s.urls[1]!])
      const a = client('a', 'a'.repeat(64), s.urls[0]!)
      started.push(a)
      await a.c.connect()
      await waitFor(() => upIn(b, ['a', 'b']), 'a and b in one view')
      // etcd holds the key's hash (in a's member key and the state), never the key.
      const kv = new Etcd3({ hosts: etcd.urls })
      const held = [await kv.get(`/${s.prefix}/ec/members/a`).string(), await kv.get(`/${s.prefix}/ec/state`).string()]
      kv.close()
      for (const text of held) {
        expect(text).toContain(nodeKeyHash('a'.repeat(64)))
        expect(text).not.toContain('a'.repeat(64))
      }
      // Another process with the cluster secret but another key says hello as a, at the other instance.
      const impostor = client('a', 'f'.repeat(64), s.urls[1]!)
      started.push(impostor)
      await expect(impostor.c.connect()).rejects.toThrow(/node id a is live on another link and this hello does not prove its key/)
      expect(s.gatewayOf('a')).toBe(0)
      expect(a.c.connected).toBe(true)
      // b's signals still reach the real a, across instances.
      b.topologyClient!.signal(nodeId('a'), { sdp: 'offer' })
      await waitFor(() => a.signals.length === 1, 'the signal at a')
      expect(a.signals).toEqual([['b', { sdp: 'offer' }]])
      expect(impostor.signals).toEqual([])
      // a dies without its socket closing; restarted with its key, it is admitted at once at the
      // other instance (its lease would take seconds to run out).
      a.kill()
      const again = client('a', 'a'.repeat(64), s.urls[1]!)
      started.push(again)
      await again.c.connect()
      await waitFor(() => s.gatewayOf('a') === 1, 'a attached to the second instance')
      b.topologyClient!.signal(nodeId('a'), { sdp: 'again' })
      await waitFor(() => again.signals.length === 1, 'the signal at the restarted a')
      expect(again.signals).toEqual([['b', { sdp: 'again' }]])
      expect(upIn(b, ['a', 'b'])).toBe(true)
      // Its socket closes: the id is free at once, for a replaced disk's new key too.
      again.close()
      const replaced = client('a', 'c'.repeat(64), s.urls[0]!)
      started.push(replaced)
      await waitFor(() => s.gatewayOf('a') === -1, 'a let go')
      await replaced.c.connect()
      await waitFor(() => upIn(b, ['a', 'b']) && s.gatewayOf('a') === 0, 'a back with a new key')
    } finally {
      for (const c of started) c.close()
      await s.close()
    }
  })

  it('views are fenced: a leader whose key another holds, or whose state another wrote, publishes nothing and steps down; epochs never repeat', async () => {
    const s = new Setup()
    const client = new Etcd3({ hosts: etcd.urls })
    try {
      await s.startInstances(1)
      const inst = s.servers[0]!.instance
      const root = `/${s.prefix}/ec/`
      const stored = async () => (JSON.parse((await client.get(`${root}state`).string())!) as { epoch: number }).epoch
      const a = await s.join('a')
      await waitFor(() => upIn(a, ['a']) && inst.leading, 'a admitted')
      const seen: number[] = []
      a.topology.events.on('view', ({ view }) => seen.push(view.epoch))
      const steppedDown: string[] = []
      inst.events.on('leader', ({ leading, reason }) => void (leading ? undefined : steppedDown.push(reason)))

      // 1. Another instance holds the leader key (as if this one's lease had run out unnoticed).
      expect(await client.get(`${root}leader`).string()).toBe(inst.instanceId)
      await client.put(`${root}leader`).value('someone-else')
      const before = await stored()
      const joinB = s.join('b') // a view is due: b joins; it is welcomed once a leader publishes again
      joinB.catch(() => undefined) // awaited below
      await waitFor(() => steppedDown.length === 1, 'the leader to step down')
      expect(steppedDown[0]).toMatch(/fenced/)
      expect(await stored()).toBe(before)
      expect(inst.leading).toBe(false)
      // The other holder goes: this instance leads again, from the stored epoch on.
      await client.delete().key(`${root}leader`)
      await joinB
      await waitFor(() => upIn(a, ['a', 'b']), 'b admitted by the new term', 10_000)
      expect(Math.min(...seen)).toBe(before + 1)

      // 2. Another instance wrote the state (a view of its own, epoch + 5) while this one still holds the key.
      await waitFor(() => inst.leading, 'leading again')
      // Compare-and-set, so that no view of this leader's falls between the read and the write.
      let now: { epoch: number }
      for (;;) {
        const kv = (await client.get(`${root}state`).exec()).kvs[0]!
        now = JSON.parse(kv.value.toString()) as { epoch: number }
        const put = client.put(`${root}state`).value(JSON.stringify({ ...now, epoch: now.epoch + 5 }))
        if ((await client.if(`${root}state`, 'Mod', '==', kv.mod_revision).then(put).commit()).succeeded) break
      }
      const joinC = s.join('c')
      joinC.catch(() => undefined) // awaited below
      await waitFor(() => steppedDown.length === 2, 'the leader to step down again')
      expect(steppedDown[1]).toMatch(/fenced/)
      await joinC
      await waitFor(() => upIn(a, ['a', 'b', 'c']), 'c admitted by the next term', 10_000)
      // That view reaches the nodes (it is in etcd); this leader published nothing in between
      // (no epoch between the overwritten one and its + 5), and every epoch came once, in order.
      expect(seen.filter((e) => e > now.epoch && e < now.epoch + 5), `seen ${seen.join(' ')}; overwritten at ${now.epoch}`).toEqual([])
      expect(seen).toEqual([...new Set(seen)].sort((x, y) => x - y))
    } finally {
      client.close()
      await s.close()
    }
  })

  it('a node whose instance dies moves to the next one and is not marked down; a node that dies is', async () => {
    const s = new Setup()
    try {
      await s.startInstances(2)
      const names = ['a', 'b', 'c']
      for (const n of names) await s.join(n)
      const a = s.nodes.get('a')!
      await waitFor(() => names.every((n) => upIn(s.nodes.get(n)!, names)) && a.health().safe, 'all up and healed', 20_000)
      // The leader goes (its nodes with it), as a kill would: its sockets close, its lease is left to expire.
      const leaderIdx = s.servers.indexOf(s.leader())
      const downs: string[] = []
      a.topology.events.on('view', ({ view }) => {
        for (const m of view.members) if (m.status === 'down') downs.push(m.nodeId)
      })
      await s.servers[leaderIdx]!.close()
      s.servers[leaderIdx] = undefined
      await waitFor(() => s.servers.some((x) => x?.instance.leading), 'another instance to lead', 10_000)
      const errs: string[] = []
      for (const n of names) s.nodes.get(n)!.topologyClient!.events.on('error', ({ error }) => errs.push(`${n}: ${error.message}`))
      await waitFor(() => names.every((n) => s.gatewayOf(n) === 1 - leaderIdx), 'every node on the other instance', 10_000).catch((e: Error) => { throw new Error(`${e.message}; gateways ${names.map((n) => s.gatewayOf(n)).join(',')}; errors: ${errs.join(' | ')}`) })
      const epochBefore = a.topology.view().epoch
      await waitFor(() => a.topology.view().epoch > epochBefore, 'a view from the new leader', 10_000)
      expect(downs).toEqual([])
      // A node that dies now is marked down by the remaining instance.
      await s.nodes.get('c')!.close()
      s.nodes.delete('c')
      await waitFor(() => a.topology.view().members.some((m) => m.nodeId === 'c' && m.status === 'down') || !a.topology.view().members.some((m) => m.nodeId === 'c'), 'c marked down', 10_000)
    } finally {
      await s.close()
    }
  })
  it('a node that started with empty storage keeps its copies when another instance takes over the lead', async () => {
    const s = new Setup()
    try {
      await s.startInstances(2)
      await waitFor(() => s.servers.some((x) => x?.instance.leading), 'a leader')
      const leaderIdx = s.servers.indexOf(s.leader())
      const other = s.servers[1 - leaderIdx]!.url
      // Both start empty (memory storage): their hellos say so. Both stay on the instance that
      // does not lead, so the next leader finds their member keys as they were written.
      const a = await s.join('a', [other])
      const b = await s.join('b', [other])
      await waitFor(() => upIn(a, ['a', 'b']) && a.health().safe && b.health().safe && a.topology.view().epoch === b.topology.view().epoch, 'both up, healed', 20_000)
      const owned = (v: ReturnType<MeshNode['topology']['view']>) => Object.values(v.owners ?? {}).every((o) => o.includes(nodeId('a')) && o.includes(nodeId('b')))
      expect(owned(a.topology.view()), JSON.stringify(a.topology.view().owners)).toBe(true)
      const views: ReturnType<MeshNode['topology']['view']>[] = []
      a.topology.events.on('view', ({ view }) => views.push(view))
      await s.servers[leaderIdx]!.close()
      s.servers[leaderIdx] = undefined
      await waitFor(() => s.servers[1 - leaderIdx]!.instance.leading, 'the other instance to lead', 10_000)
      // The new leader admits both again from their member keys: a view for each.
      const epochBefore = a.topology.view().epoch
      await waitFor(() => a.topology.view().epoch >= epochBefore + 2, 'views from the new leader', 10_000)
      // Their storage is not empty any more: no view of the new term drops them as owners of
      // what they hold (that left domains with no live owner once their other owner died).
      const dropped = views.filter((v) => !owned(v)).map((v) => `epoch ${v.epoch}: ${JSON.stringify(v.owners)}`)
      expect(dropped).toEqual([])
    } finally {
      await s.close()
    }
  })

  it('etcd loses its quorum: nodes keep their view, the instance reports calmly, and leads again once it is back', { timeout: 60_000 }, async () => {
    const s = new Setup()
    try {
      await s.startInstances(1)
      const inst = s.servers[0]!.instance
      const a = await s.join('a')
      await waitFor(() => upIn(a, ['a']) && inst.leading && a.health().safe, 'a admitted')
      await a.store('shop').put('k', { v: 1 })
      const errors: string[] = []
      inst.events.on('etcd-error', ({ error }) => errors.push(error.message))
      const [m1, m2] = etcd.names()
      await etcd.kill(m1!)
      await etcd.kill(m2!)
      await new Promise((r) => setTimeout(r, 15_000))
      // Lease losses are retried once a second, not in a tight loop (it printed hundreds a second).
      expect(errors.length, errors.slice(0, 5).join('\n')).toBeLessThan(60)
      expect(upIn(a, ['a'])).toBe(true)
      await etcd.restart(m1!)
      await etcd.restart(m2!)
      await etcd.waitHealthy()
      await waitFor(() => inst.leading, 'the instance to lead again', 30_000)
      // Its record, gone with the lost lease, is back: a later instance checks its options against it.
      const client = new Etcd3({ hosts: etcd.urls })
      try {
        await waitFor(async () => (await client.get(`/${s.prefix}/ec/instances/${inst.instanceId}`).string()) !== null, 'the instance record back in etcd', 10_000).catch((err: Error) => {
          throw new Error(`${err.message}; the instance's last etcd errors: ${errors.slice(-5).join(' | ')}`)
        })
      } finally {
        client.close()
      }
      await waitFor(() => upIn(a, ['a']) && a.topologyClient!.connected, 'a admitted again', 30_000)
      expect(await a.store('shop').get('k')).toEqual({ v: 1 })
    } finally {
      await s.close()
    }
  })
})
