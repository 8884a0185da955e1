// A topology service and two nodes in one Node process, over real WebRTC on this machine:
// one node writes, the other reads. `npm start`; prints "ok" and exits 0.
import { FileStorage, MeshNode, WebRtcTransport, clusterId, nodeId, nodeTopologyConnector, startTopologyServer } from 'domainmesh'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const secret = 'example-secret'
const dir = await mkdtemp(join(tmpdir(), 'domainmesh-example-'))
// Binds 127.0.0.1; settings left out take the defaults (64 domains, 2 replicas).
const topology = await startTopologyServer({ clusterId: 'example', secret, port: 0 })

async function startNode(name) {
  const node = new MeshNode({
    clusterId: clusterId('example'),
    nodeId: nodeId(name),
    // iceServers: [] is the default: only this host's own addresses are used. bindAddress keeps
    // WebRTC on loopback (drop it for nodes on different machines).
    transport: new WebRtcTransport({ rtcConfig: { bindAddress: '127.0.0.1' } }),
    storage: await FileStorage.open(join(dir, name)),
    topology: { connect: nodeTopologyConnector(topology.url), secret },
  })
  return node.start()
}

const a = await startNode('a')
const b = await startNode('b')
try {
  // Until both see each other and every domain has its two copies, a write would be
  // acknowledged by fewer replicas.
  await Promise.all([a.ready({ members: 2 }), b.ready({ members: 2 })])
  const ack = await a.store('shop').put('cart:1', { items: ['apple'], total: 5 })
  await b.store('shop').update('cart:1', (draft) => { draft.items.push('pear') })
  const cart = await a.store('shop').get('cart:1')
  if (ack.replicas !== 2 || cart.items.join() !== 'apple,pear') throw new Error(`unexpected: ${JSON.stringify({ ack, cart })}`)
  console.log('ok', JSON.stringify(cart))
} finally {
  await a.close()
  await b.close()
  await topology.close()
  await rm(dir, { recursive: true, force: true })
}
