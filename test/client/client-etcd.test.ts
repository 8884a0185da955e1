/**
 * A client attached to one topology instance over etcd, its members to another (issue 34 with
 * issue 35): its signals reach them, and theirs reach it, through the instances' etcd inboxes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { generateClientKeys, issueClientToken, MeshClient, MeshNode, serveClients, startTopologyServer, WebRtcTransport, type EtcdTopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { EtcdCluster, etcdAvailable, ETCD_MISSING } from '../helpers/etcd-cluster.js'

const CLUSTER = 'ecl'
const SECRET = 'etcd-client-secret'
let etcd: EtcdCluster
const servers: EtcdTopologyServer[] = []
const members: MeshNode[] = []
let client: MeshClient | undefined

beforeAll(async () => {
  if (!etcdAvailable()) throw new Error(ETCD_MISSING)
  etcd = await EtcdCluster.start(1)
}, 30_000)

afterAll(async () => {
  await client?.close()
  for (const m of members) await m.close()
  for (const s of servers) await s.close()
  await etcd?.close()
})

describe('a client on another topology instance than its members', { timeout: 60_000 }, () => {
  it('links to them through etcd and reads and writes as on one instance', async () => {
    const keys = await generateClientKeys()
    for (let i = 0; i < 2; i++) {
      servers.push(await startTopologyServer({ clusterId: CLUSTER, secret: SECRET, settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 1000, healDelayMs: 3000, port: 0, clientAuth: { publicKey: keys.publicKeyPem }, etcd: { hosts: etcd.urls, prefix: `c-${process.pid}`, leaseTtlSeconds: 2 } }))
    }
    for (const name of ['m1', 'm2']) {
      const m = new MeshNode({ clusterId: clusterId(CLUSTER), nodeId: nodeId(name), transport: new WebRtcTransport({ rtcConfig: { bindAddress: '127.0.0.1' } }), storage: new MemoryStorage(), clock: new RealClock(), topology: { urls: [servers[0]!.url], secret: SECRET }, clients: serveClients({ publicKey: keys.publicKeyPem }) })
      members.push(await m.start())
    }
    await Promise.all(members.map((m) => m.ready({ members: 2 })))
    const token = await issueClientToken(keys.privateKey, { clusterId: CLUSTER, subject: 'alice', access: { shop: 'read-write' } })
    client = await new MeshClient({ clusterId: CLUSTER, topology: { urls: [servers[1]!.url] }, token, transport: new WebRtcTransport({ role: 'client', rtcConfig: { bindAddress: '127.0.0.1' } }) }).start()
    expect(servers[1]!.instance.clients.has(client.nodeId)).toBe(true)
    expect(servers[0]!.instance.clients.has(client.nodeId)).toBe(false)
    for (let i = 0; i < 10; i++) await client.store('shop').put(`k${i}`, { i })
    for (let i = 0; i < 10; i++) expect(await members[i % 2]!.store('shop').get(`k${i}`)).toEqual({ i })
    expect(client.linkedMembers.length).toBeGreaterThan(0)
  })
})
