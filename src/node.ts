/** domainmesh — Node.js entry: everything in the browser entry plus the Node-only parts. */
import WebSocket from 'ws'
import type { TopologyConnector } from './topology/client.js'
import { websocketConnector, type WebSocketConstructor } from './topology/ws-link.js'
import { websocketFailoverConnector } from './topology/failover.js'
import { MeshNode as BaseMeshNode, type MeshNodeOptions } from './node/mesh-node.js'
import { MeshClient as BaseMeshClient, type MeshClientOptions } from './client/mesh-client.js'
import { WebRtcTransport as NodeWebRtcTransport } from './transport/webrtc-node.js'

export * from './index.js'
// Shadows the browser entry's transport: the same class, with node-datachannel's RTCPeerConnection.
export { WebRtcTransport } from './transport/webrtc-node.js'

/** MeshNode for Node: `topology: { urls }` connects with `ws` (Node 20 has no global WebSocket). */
export class MeshNode extends BaseMeshNode {
  constructor(opts: MeshNodeOptions) {
    const t = opts.topology
    super(t && 'urls' in t && !t.WebSocket ? { ...opts, topology: { ...t, WebSocket: WebSocket as unknown as WebSocketConstructor } } : opts)
  }
}
/**
 * MeshClient for Node (a test harness, a bot, a server-side renderer): `ws` for the topology
 * service and node-datachannel for WebRTC unless given.
 */
export class MeshClient extends BaseMeshClient {
  constructor(opts: MeshClientOptions) {
    const t = opts.topology
    super({
      ...opts,
      topology: 'urls' in t && !t.WebSocket ? { ...t, WebSocket: WebSocket as unknown as WebSocketConstructor } : t,
      transport: opts.transport ?? new NodeWebRtcTransport({ role: 'client', ...(opts.clock ? { clock: opts.clock } : {}) }),
    })
  }
}
export { generateClientKeys, issueClientToken, issueMemberToken, type ClientKeys, type ClientTokenClaims } from './auth/issue.js'
// Shadows the browser entry's: tokens checked with jose (the browser build leaves it out: 60 kB).
export { joseVerifier, serveClients } from './auth/jose-verifier.js'
export { FileStorage } from './storage/files.js'
export { startTopologyServer, type TopologyServer, type TopologyServerOptions, type EtcdTopologyServer } from './server/ws-server.js'
export type { EtcdTopologyInstance, EtcdTopologyOptions } from './server/etcd-topology.js'
export { EtcdClientMissingError, EtcdConfigMismatchError } from './server/etcd-errors.js'
export { TopologyService, type TopologyServiceOptions } from './server/topology-service.js'
export { parseStaticTopology, StaticTopologyError, type StaticTopology } from './server/static-topology.js'

/**
 * Connects to a topology service from Node (Node 20 has no global WebSocket; `ws` is used). Given
 * several URLs (instances over etcd), each reconnect moves on to the next if its own is gone.
 */
export function nodeTopologyConnector(url: string | readonly string[]): TopologyConnector {
  if (typeof url === 'string') return websocketConnector(url, WebSocket as unknown as WebSocketConstructor)
  return websocketFailoverConnector(url, WebSocket as unknown as WebSocketConstructor)
}
