/**
 * What this tab is in the cluster `npm start` runs:
 *   - a client (the default): a MeshClient with a token from the demo's auth endpoint, for a demo
 *     user; it holds no replica and never sees the cluster secret;
 *   - a member (`?mode=member&secret=…`): a MeshNode with IndexedDB storage, in the WebRTC mesh.
 *     The secret comes only from the URL: nothing in the built page holds it (test/e2e/demo-bundle).
 * A member tab keeps its node id across reloads (sessionStorage), so a reload comes back as the
 * same member with the same IndexedDB replicas.
 */
import { IndexedDbStorage, MeshClient, MeshNode, WebRtcTransport, clusterId, nodeId } from '../src/index.js'

export interface DemoConfig {
  mode: 'client' | 'member'
  /** One topology URL, or several instances over etcd separated by commas (the tab moves on when its own goes). */
  topologyUrl: string
  cluster: string
  /** Member mode only, from the query string. */
  secret: string
  /** Client mode: the token route of the app's auth endpoint. */
  authUrl: string
  /** Client mode: links to members at most. */
  maxLinks: number
}

/**
 * From the query string first (?topology=…&cluster=…&auth=…&mode=…&secret=…), then what
 * `npm start` passed to vite. The secret never comes from vite's env: a built bundle would hold it.
 * Each variable is named in full (`import.meta.env.VITE_…`): vite puts only those in the bundle,
 * where `import.meta.env` as an object would carry every VITE_ variable of the build's environment.
 */
export function readConfig(): DemoConfig {
  const q = new URLSearchParams(location.search)
  return {
    mode: q.get('mode') === 'member' ? 'member' : 'client',
    topologyUrl: q.get('topology') ?? (import.meta.env.VITE_DM_TOPOLOGY as string | undefined) ?? 'ws://127.0.0.1:7700',
    cluster: q.get('cluster') ?? (import.meta.env.VITE_DM_CLUSTER as string | undefined) ?? 'demo',
    secret: q.get('secret') ?? '',
    authUrl: q.get('auth') ?? (import.meta.env.VITE_DM_AUTH as string | undefined) ?? '/auth/token',
    maxLinks: Number(q.get('maxLinks') ?? 3),
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

/** The demo user of a client tab: ?user=NAME, else a name made up once per tab (sessionStorage). */
export function tabUser(): string {
  const given = new URLSearchParams(location.search).get('user')
  if (given) return given
  const key = 'domainmesh-demo-user'
  let user = sessionStorage.getItem(key)
  if (!user) {
    user = `user-${Math.random().toString(36).slice(2, 8)}`
    sessionStorage.setItem(key, user)
  }
  return user
}

export async function startBrowserNode(cfg: DemoConfig, id: string): Promise<MeshNode> {
  if (!cfg.secret) throw new Error('a member tab needs the cluster secret in its URL (?mode=member&secret=…; `npm start` prints the whole URL)')
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

/** Asks the auth endpoint for a token for `user` (again before each one expires: MeshClient does). */
export async function fetchToken(authUrl: string, user: string): Promise<string> {
  const res = await fetch(`${authUrl}?user=${encodeURIComponent(user)}`)
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string }
  if (!res.ok || typeof body.token !== 'string') throw new Error(`the auth endpoint ${authUrl} gave no token (${res.status}${body.error ? `: ${body.error}` : ''})`)
  return body.token
}

export interface BrowserClient {
  client: MeshClient
  /** Its transport, for the bytes it sent. */
  transport: WebRtcTransport
}

export async function startBrowserClient(cfg: DemoConfig, user: string): Promise<BrowserClient> {
  const transport = new WebRtcTransport({ role: 'client', iceServers: [] })
  const client = new MeshClient({
    clusterId: cfg.cluster,
    topology: { urls: cfg.topologyUrl.split(',').filter((u) => u !== '') },
    token: () => fetchToken(cfg.authUrl, user),
    transport,
    maxLinks: cfg.maxLinks,
  })
  return { client: await client.start(), transport }
}
