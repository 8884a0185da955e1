/**
 * A fault-test tab: what a browser tab is to the cluster, in a Node process. It joins as an
 * ephemeral member (memory storage, so `durable: false`, as IndexedDB in a tab is), over WebRTC,
 * with writers driven over stdin (driver.ts). Closing the tab is `{"op":"close"}` (the node says
 * goodbye) or kill -9 (a crashed or killed tab); a tab opened later is a new process with a new id,
 * holding nothing.
 *
 * Argv: NAME TOPOLOGY_URL; env DOMAINMESH_SECRET.
 */
import WebSocket from 'ws'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { startMetricsServer } from '../../src/server/metrics-server.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { websocketConnector, type WebSocketConstructor } from '../../src/topology/ws-link.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { drive } from './driver.js'

const [name, topologyUrl] = process.argv.slice(2)
if (!name || !topologyUrl || !process.env.DOMAINMESH_SECRET) throw new Error('usage: tab.ts NAME TOPOLOGY_URL (secret in DOMAINMESH_SECRET)')
const clock = new RealClock()
const node = new MeshNode({
  clusterId: clusterId('faults'),
  nodeId: nodeId(name),
  transport: new WebRtcTransport({ iceServers: [], clock, rtcConfig: { bindAddress: '127.0.0.1' } }),
  storage: new MemoryStorage(),
  clock,
  topology: { connect: websocketConnector(topologyUrl, WebSocket as unknown as WebSocketConstructor), secret: process.env.DOMAINMESH_SECRET },
})
await node.start()
const metrics = await startMetricsServer(node, 0)
console.log(`tab ${node.nodeId} joined (durable: ${node.durable}); metrics at ${metrics.url}/metrics`)
node.topology.events.on('view', ({ view }) => {
  const m = node.metrics()
  console.log(`view ${view.epoch}: ${view.members.length} members, ${m.peers.length} peers connected, leads ${m.domainsPrimary} domains, backs up ${m.domainsBackup}`)
})
node.transport.on('peer-down', ({ peer, reason }) => console.log(`link to ${peer} dropped (${reason})`))
drive(node, async () => {
  await metrics.close()
  await node.close()
})
