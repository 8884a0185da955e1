/**
 * A domainmesh node in this tab: IndexedDB storage, the WebRTC mesh, joined through the topology
 * service that `npm start` runs. The tab keeps its node id across reloads (sessionStorage), so a
 * reload comes back as the same member with the same IndexedDB replicas.
 */
import { IndexedDbStorage, MeshNode, WebRtcTransport, clusterId, nodeId } from '../src/index.js'

export interface DemoConfig {
  /** One topology URL, or several instances over etcd separated by commas (the node moves on when its own goes). */
  topologyUrl: string
  cluster: string
  secret: string
}

/** From the query string first (?topology=…&cluster=…&secret=…), then what `npm start` passed to vite. */
export function readConfig(): DemoConfig {
  const q = new URLSearchParams(location.search)
  const env = import.meta.env as Record<string, string | undefined>
  return {
    topologyUrl: q.get('topology') ?? env.VITE_DM_TOPOLOGY ?? 'ws://127.0.0.1:7700',
    cluster: q.get('cluster') ?? env.VITE_DM_CLUSTER ?? 'demo',
    secret: q.get('secret') ?? env.VITE_DM_SECRET ?? '',
  }
}

/** ?node=ID pins the id (a reopened tab then comes back as the same node, with its IndexedDB data). */
export function tabNodeId(): string {
  const pinned = new URLSearchParams(location.search).get('node')
  if (pinned) return pinned
  const key = 'domainmesh-demo-node-id'
  let id = sessionStorage.getItem(key)
  if (!id) {
    id = `tab-${Math.random().toString(36).slice(2, 8)}`
    sessionStorage.setItem(key, id)
  }
  return id
}

export async function startBrowserNode(cfg: DemoConfig, id: string): Promise<MeshNode> {
  const node = new MeshNode({
    clusterId: clusterId(cfg.cluster),
    nodeId: nodeId(id),
    transport: new WebRtcTransport({ iceServers: [] }),
    storage: new IndexedDbStorage({ dbName: `domainmesh-${cfg.cluster}-${id}` }),
    topology: { urls: cfg.topologyUrl.split(',').filter((u) => u !== ''), secret: cfg.secret },
    rttIntervalMs: 5000,
  })
  return node.start()
}
