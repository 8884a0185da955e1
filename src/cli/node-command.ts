/** `domainmesh node`: a Node peer with file storage and WebRTC, joined through a topology service. */
import { resolve } from 'node:path'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import WebSocket from 'ws'
import { clusterId as toClusterId, nodeId as toNodeId } from '../ids.js'
import { MeshNode } from '../node/mesh-node.js'
import { loadCollector, loadMallocTrim, MemoryRelease, onFullCollections } from '../node/memory-release.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { FileStorage } from '../storage/files.js'
import { websocketConnector, type WebSocketConstructor } from '../topology/ws-link.js'
import { websocketFailoverConnector } from '../topology/failover.js'
import { WebRtcTransport } from '../transport/webrtc-node.js'
import { serveClients } from '../auth/jose-verifier.js'
import { RealClock } from '../util/clock.js'
import { CliError, intFlag, onShutdown, parseFlags, secretFlag, stringFlag, clientKeyFlag } from './args.js'
import { consoleOut, reportNode } from './console.js'
import { checkPortFree, portError } from './ports.js'

export const NODE_HELP = `domainmesh node — run a peer node with file storage

  --topology URL[,URL] topology service, e.g. ws://127.0.0.1:7700 (required); several instances
                       (over etcd): the node moves to the next when its own goes away
  --data DIR           data folder; the node id is stored there (required)
  --node-id ID         node id on first start (default: generated, then kept in DIR)
  --cluster ID         cluster id (default "demo")
  --secret S           cluster secret (or DOMAINMESH_SECRET)
  --client-key FILE    public key (PEM) of the app's auth endpoint: admit clients (browser tabs
                       of users) with tokens it signs (or DOMAINMESH_CLIENT_KEY, the PEM itself)
  --bind-address ADDR  local address for WebRTC (e.g. 127.0.0.1 on a loopback-only host)
  --metrics-port N     serve /metrics, /metrics.json and /health on 127.0.0.1:N
  --heap-growth PCT    let V8's heap grow PCT % over the live data between full collections
                       (default 50; 0 leaves V8's own factor, 1.1-4x, which used about twice
                       the memory per object in the benchmark)
  --memory-trim on|off once the node has been quiet for 5 s, have V8 give back what a burst
                       grew its heap by (one memory-reducing collection), then give the C heap's
                       free pages back to the system, also after V8's full collections while it
                       stays quiet (default on; glibc malloc_trim, through koffi: npm install koffi)
  --verbose            also print every view, healing copy and link change (to stderr; or
                       DEBUG=domainmesh:* for all, DEBUG=domainmesh:healing for one kind)
`

/** Starts the node (and returns it, so a wrapper such as the benchmark's peer can watch it). */
export async function nodeCommand(argv: string[]): Promise<MeshNode | undefined> {
  const v = parseFlags(
    argv,
    {
      topology: { type: 'string' },
      data: { type: 'string' },
      'node-id': { type: 'string' },
      cluster: { type: 'string' },
      secret: { type: 'string' },
      'bind-address': { type: 'string' },
      'client-key': { type: 'string' },
      'metrics-port': { type: 'string' },
      'heap-growth': { type: 'string' },
      'memory-trim': { type: 'string' },
      verbose: { type: 'boolean' },
    },
    'node',
  )
  if (v.help) {
    process.stdout.write(NODE_HELP)
    return undefined
  }
  const topologyUrls = stringFlag(v, 'topology').split(',').filter((u) => u !== '')
  for (const u of topologyUrls) if (!/^wss?:\/\//.test(u)) throw new CliError(`--topology must be ws:// or wss:// URLs, not "${u}"`)
  const dataDir = resolve(stringFlag(v, 'data'))
  const secret = secretFlag(v)
  // Measured on a peer taking 74,814 objects: resident memory grew 258 MB per 100,000 with V8's
  // own growing factor, 131-145 MB with 30 or 50 %. The cost is more full collections: with 30 %,
  // paired runs lost ~12 % of the changes/s at 256 in flight and the 16-writer p99 went 23-27 ->
  // 33-38 ms; with 50 % the p99 was 29 ms and changes/s stayed inside the noise.
  const heapGrowth = intFlag(v, 'heap-growth', 50, 0, 1000)
  if (heapGrowth > 0) setFlagsFromString(`--heap-growing-percent=${heapGrowth}`)
  const memoryTrim = v['memory-trim'] ?? 'on'
  if (memoryTrim !== 'on' && memoryTrim !== 'off') throw new CliError(`--memory-trim must be on or off, not "${String(memoryTrim)}"`)
  const out = consoleOut(v.verbose === true)
  const metricsPort = v['metrics-port'] !== undefined ? intFlag(v, 'metrics-port', 0, 0, 65535) : undefined
  // Before joining: a node that joined and then died on its metrics port would leave the
  // cluster a member down (and heal around it) for nothing.
  if (metricsPort !== undefined) await checkPortFree('127.0.0.1', metricsPort, 'metrics', 'another domainmesh node running? Choose another port with --metrics-port')
  const clock = new RealClock()
  const bind = typeof v['bind-address'] === 'string' ? { bindAddress: v['bind-address'] } : undefined
  const clientAuth = await clientKeyFlag(v)
  const node = new MeshNode({
    clusterId: toClusterId(stringFlag(v, 'cluster', 'demo')),
    ...(typeof v['node-id'] === 'string' ? { nodeId: toNodeId(v['node-id']) } : {}),
    transport: new WebRtcTransport({ iceServers: [], clock, ...(bind ? { rtcConfig: bind } : {}) }),
    storage: await FileStorage.open(dataDir),
    clock,
    topology: { connect: topologyUrls.length === 1 ? websocketConnector(topologyUrls[0]!, WebSocket as unknown as WebSocketConstructor) : websocketFailoverConnector(topologyUrls, WebSocket as unknown as WebSocketConstructor), secret },
    rttIntervalMs: 5000,
    ...(clientAuth ? { clients: serveClients(clientAuth) } : {}),
  })
  await node.start()
  const trimming = memoryTrim === 'on' ? await trimWhenQuiet(node, clock) : undefined
  const metrics =
    metricsPort !== undefined
      ? await startMetricsServer(node, metricsPort, { figures: () => trimming?.figures() ?? {} }).catch(async (err: unknown) => {
          await node.close()
          throw portError(err, '127.0.0.1', metricsPort, 'metrics', 'another domainmesh node running? Choose another port with --metrics-port')
        })
      : undefined
  console.log(`node ${node.nodeId} joined cluster "${node.clusterId}" (data in ${dataDir})${metrics ? `; metrics at ${metrics.url}/metrics` : ''}`)
  // Unreadable (NotReadyError) until another owner's copy replaces it, or the operator accepts the loss.
  for (const { domain, reason } of node.state.damaged) console.log(`domain ${domain}: no complete copy here (${reason})`)
  const unreport = reportNode(node, out, clock)
  onShutdown(async () => {
    console.log(`node ${node.nodeId} stopping: writing state to disk`)
    unreport()
    trimming?.stop()
    await metrics?.close()
    await node.close()
  })
  return node
}

/**
 * Once the node is quiet, asks V8 for a memory-reducing collection and trims the C heap after it
 * and after V8's own full collections (memory-release.ts). Either may be missing here.
 */
async function trimWhenQuiet(node: MeshNode, clock: RealClock): Promise<{ stop: () => void; figures: () => Record<string, number | boolean> } | undefined> {
  const [trim, collect] = await Promise.all([loadMallocTrim(), loadCollector()])
  if (typeof trim !== 'function') console.log(`memory trim off: ${trim.unavailable}`)
  if (typeof collect !== 'function') console.log(`collection when quiet off: ${collect.unavailable}`)
  if (typeof trim !== 'function' && typeof collect !== 'function') return undefined
  const release = new MemoryRelease({
    clock,
    ...(typeof trim === 'function' ? { trim } : {}),
    ...(typeof collect === 'function' ? { collect, slackBytes: () => { const h = getHeapStatistics(); return h.total_heap_size - h.used_heap_size }, usedBytes: () => getHeapStatistics().used_heap_size } : {}),
    idleMs: () => node.state.idleMs(),
    watchCollections: onFullCollections,
    onError: (err) => console.error('memory release failed:', err),
  })
  release.start()
  return {
    stop: () => release.stop(),
    figures: () => ({ memoryTrims: release.stats.trims, memoryCollections: release.stats.collections, memoryCollectMs: release.stats.collectMs, memoryTrimmedSinceLastWrite: release.trimmedSinceLastWrite() }),
  }
}
