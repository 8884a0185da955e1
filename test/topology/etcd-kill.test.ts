/**
 * kill -9 of the topology instance that leads, with a real 3-member etcd: the instances run as
 * processes (a killed one leaves its leases to expire, as a crash does), the nodes in this
 * process on a MemoryNetwork. Until the leader's lease expires no instance leads, so a node that
 * moved to the other instance waits there for its welcome; it must stay admitted meanwhile.
 * And SIGSTOP of an instance: it closes no socket, so its node must notice the silence and move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { ChildHandle, CLI } from '../faults/processes.js'
import { EtcdCluster, etcdAvailable, ETCD_MISSING } from '../helpers/etcd-cluster.js'
import { waitFor } from '../helpers/wait.js'
import { freePort } from '../helpers/processes.js'

const SECRET = 'etcd-kill-secret'
let etcd: EtcdCluster
const handles: ChildHandle[] = []
const nodes: MeshNode[] = []

beforeAll(async () => {
  if (!etcdAvailable()) throw new Error(ETCD_MISSING)
  etcd = await EtcdCluster.start(3)
}, 30_000)
afterAll(async () => {
  for (const n of nodes) await n.close()
  for (const h of handles) await h.kill()
  await etcd?.close()
})

const spawnInstance = (ports: number[], i: number, prefix: string) => {
  const h = new ChildHandle(`t${i}`, [CLI, 'topology', '--port', String(ports[i]), '--cluster', 'ek', '--replicas', '2', '--domains', '8', '--heartbeat', '1000', '--heal-delay', '60000', '--etcd', etcd.urls.join(','), '--etcd-prefix', prefix, '--etcd-lease-ttl', '8'], { DOMAINMESH_SECRET: SECRET }, undefined, 1000)
  handles.push(h)
  return h
}

/**
 * Two instances (the first leads) and nodes a and b in this process: a lists `aOn`, b lists
 * `bOn` (indices into the instances). Records every node marked down in a view, and b's drops.
 */
async function twoInstances(prefix: string, aOn: number[], bOn: number[]) {
  const ports = [await freePort(), await freePort()]
  const urls = ports.map((p) => `ws://127.0.0.1:${p}`)
  const t0 = spawnInstance(ports, 0, prefix)
  await t0.ready(/ leads:/, 30_000)
  const t1 = spawnInstance(ports, 1, prefix)
  await t1.ready(/listening on ws:/, 30_000)
  const net = new MemoryNetwork({ clock: new RealClock() })
  const join = async (name: string, list: string[]) => {
    const n = new MeshNode({ clusterId: clusterId('ek'), nodeId: nodeId(name), transport: net.createTransport(), storage: new MemoryStorage(), clock: new RealClock(), topology: { connect: nodeTopologyConnector(list), secret: SECRET } })
    await n.start()
    nodes.push(n)
    return n
  }
  const a = await join('a', aOn.map((i) => urls[i]!))
  const b = await join('b', bOn.map((i) => urls[i]!))
  const up = (n: MeshNode) => ['a', 'b'].every((w) => n.topology.view().members.some((m) => m.nodeId === w && m.status === 'up'))
  await waitFor(() => up(a) && up(b), 'a and b up in one view', 20_000)
  const downs: string[] = []
  for (const n of [a, b]) n.topology.events.on('view', ({ view }) => downs.push(...view.members.filter((m) => m.status === 'down').map((m) => m.nodeId)))
  const drops: string[] = []
  b.topologyClient!.events.on('disconnected', ({ reason }) => drops.push(reason))
  return { t0, t1, a, b, up, downs, drops }
}

describe('kill -9 of the leading topology instance', () => {
  it('its nodes wait at the other instance for the next leader and are never dropped or marked down', { timeout: 60_000 }, async () => {
    // a on the instance that stays; b on the leader, with the other one next in its list.
    const { t0, t1, a, b, up, downs, drops } = await twoInstances(`kill-${process.pid}`, [1], [0, 1])

    await t0.kill()
    await waitFor(() => t1.output.some((l) => / leads:/.test(l)), 'the other instance to lead', 20_000)
    const epoch = a.topology.view().epoch
    // The new leader admits b again; from then on it heartbeats through its new instance.
    await waitFor(() => b.topology.view().epoch >= epoch && up(a) && up(b) && b.topologyClient!.connected, 'b welcomed by the new leader', 20_000)
    await new Promise((r) => setTimeout(r, 2000))
    expect(drops, `${drops.join(" / ")}\n${t1.output.join("\n")}`).toHaveLength(1) // the kill itself, and no more
    expect(downs, t1.output.join('\n')).toEqual([])
    expect(up(a) && up(b)).toBe(true)
  })

  it('a node on an instance that hangs (SIGSTOP) moves to the other one and is never marked down', { timeout: 60_000 }, async () => {
    // a on the leading instance; b on the other, which will hang, with the leader next in its list.
    const { t0, t1, a, b, up, downs, drops } = await twoInstances(`stop-${process.pid}`, [0], [1, 0])

    t1.pause()
    try {
      await waitFor(() => drops.length > 0 && b.topologyClient!.connected, 'b to give up on the hung instance and connect to the other', 20_000)
      expect(drops[0]).toMatch(/^the topology service did not answer for \d+ ms$/)
      // Views flow to b again, from the leader it now heartbeats to.
      const epoch = a.topology.view().epoch
      await a.store('s').put('k', 1)
      await waitFor(() => b.topology.view().epoch >= epoch && up(b), 'b following views on its new instance', 20_000)
      await new Promise((r) => setTimeout(r, 3000))
      expect(downs, t0.output.join('\n')).toEqual([])
      expect(drops).toHaveLength(1)
    } finally {
      t1.resume()
    }
  })
})
