/** domainmesh — Node.js entry: everything in the browser entry plus the Node-only parts. */
import WebSocket from 'ws'
import type { TopologyConnector } from './topology/client.js'
import { websocketConnector, type WebSocketConstructor } from './topology/ws-link.js'

export * from './index.js'
// Shadows the browser entry's transport: the same class, with node-datachannel's RTCPeerConnection.
export { WebRtcTransport } from './transport/webrtc-node.js'
export { FileStorage } from './storage/files.js'
export { startTopologyServer, type TopologyServer, type TopologyServerOptions } from './server/ws-server.js'
export { TopologyService, type TopologyServiceOptions } from './server/topology-service.js'
export { parseStaticTopology, StaticTopologyError, type StaticTopology } from './server/static-topology.js'

/** Connects to a topology service from Node (Node 20 has no global WebSocket; `ws` is used). */
export function nodeTopologyConnector(url: string): TopologyConnector {
  return websocketConnector(url, WebSocket as unknown as WebSocketConstructor)
}
