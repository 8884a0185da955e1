/** `domainmesh node`: a Node peer with file storage and WebRTC, joined through a topology service. */
import { resolve } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import WebSocket from 'ws'
import { clusterId as toClusterId, nodeId as toNodeId } from '../ids.js'
import { MeshNode } from '../node/mesh-node.js'
import { loadMallocTrim, MemoryRelease, onFullCollections } from '../node/memory-release.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { FileStorage } from '../storage/files.js'
import { websocketConnector, type WebSocketConstructor } from '../topology/ws-link.js'
import { websocketFailoverConnector } from '../topology/failover.js'
import { WebRtcTransport } from '../transport/webrtc.js'
import { RealClock } from '../util/clock.js'
import { CliError, intFlag, onShutdown, parseFlags, secretFlag, stringFlag } from './args.js'

export const NODE_HELP = `domainmesh node — run a peer node with file storage

  --topology URL[,URL] topology service, e.g. ws://127.0.0.1:7700 (required); several instances
                       (over etcd): the node moves to the next when its own goes away
  --data DIR           data folder; the node id is stored there (required)
  --node-id ID         node id on first start (default: generated, then kept in DIR)
  --cluster ID         cluster id (default "demo")
  --secret S           cluster secret (or DOMAINMESH_SECRET)
  --bind-address ADDR  local address for WebRTC (e.g. 127.0.0.1 on a loopback-only host)
  --metrics-port N     serve /metrics, /metrics.json and /health on 127.0.0.1:N
  --heap-growth PCT    let V8's heap grow PCT % over the live data between full collections
                       (default 50; 0 leaves V8's own factor, 1.1-4x, which used about twice
                       the memory per object in the benchmark)
  --memory-trim on|off give the C heap's free pages back to the system once the node has
                       been quiet for 5 s, and after V8's full collections while it stays quiet
                       (default on; glibc malloc_trim, through the optional dependency koffi)
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
      'metrics-port': { type: 'string' },
      'heap-growth': { type: 'string' },
      'memory-trim': { type: 'string' },
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
  const clock = new RealClock()
  const bind = typeof v['bind-address'] === 'string' ? { bindAddress: v['bind-address'] } : undefined
  const node = new MeshNode({
    clusterId: toClusterId(stringFlag(v, 'cluster', 'demo')),
    ...(typeof v['node-id'] === 'string' ? { nodeId: toNodeId(v['node-id']) } : {}),
    transport: new WebRtcTransport({ iceServers: [], clock, ...(bind ? { rtcConfig: bind } : {}) }),
    storage: await FileStorage.open(dataDir),
    clock,
    topology: { connect: topologyUrls.length === 1 ? websocketConnector(topologyUrls[0]!, WebSocket as unknown as WebSocketConstructor) : websocketFailoverConnector(topologyUrls, WebSocket as unknown as WebSocketConstructor), secret },
    rttIntervalMs: 5000,
  })
  await node.start()
  const trimming = memoryTrim === 'on' ? await trimWhenQuiet(node, clock) : undefined
  const metrics = v['metrics-port'] !== undefined ? await startMetricsServer(node, intFlag(v, 'metrics-port', 0, 0, 65535), { figures: () => trimming?.figures() ?? {} }) : undefined
  console.log(`node ${node.nodeId} joined cluster "${node.clusterId}" (data in ${dataDir})${metrics ? `; metrics at ${metrics.url}/metrics` : ''}`)
  for (const { domain, reason } of node.state.damaged) console.log(`domain ${domain}: stored copy is damaged (${reason}); rebuilding it from the other owners`)
  node.topology.events.on('view', ({ view }) => {
    const m = node.metrics()
    console.log(`view ${view.epoch}: ${view.members.length} members, ${m.peers.length} peers connected, leads ${m.domainsPrimary} domains, backs up ${m.domainsBackup}`)
  })
  // Why a link dropped is what an operator needs after a pause, a crash or a network fault.
  node.transport.on('peer-down', ({ peer, reason }) => console.log(`link to ${peer} dropped (${reason})`))
  node.state.events.on('healing', (p) => {
    if (p.error) console.log(`healing: copy of domain ${p.domain} to ${p.target} failed (${(p.error as Error).message}); will retry`)
    else console.log(`healing: ${p.domainsDone}/${p.domainsTotal} domains copied (${p.bytes} bytes)`)
  })
  node.state.events.on('snapshot-installed', ({ domain, from }) => console.log(`domain ${domain}: installed a snapshot from ${from} (this copy had diverged or was missing)`))
  node.state.events.on('corrupt', ({ domain, error }) => console.log(`domain ${domain}: stored copy is damaged (${(error as Error).message}); rebuilding it from the other owners`))
  node.state.events.on('replica-error', ({ domain, error }) => console.log(`domain ${domain}: ${(error as Error).message}`))
  onShutdown(async () => {
    console.log(`node ${node.nodeId} stopping: writing state to disk`)
    trimming?.stop()
    await metrics?.close()
    await node.close()
  })
  return node
}

/** Trims the C heap after full collections once the node is quiet (memory-release.ts). */
async function trimWhenQuiet(node: MeshNode, clock: RealClock): Promise<{ stop: () => void; figures: () => Record<string, number | boolean> } | undefined> {
  const trim = await loadMallocTrim()
  if (typeof trim !== 'function') {
    console.log(`memory trim off: ${trim.unavailable}`)
    return undefined
  }
  const release = new MemoryRelease({ clock, trim, idleMs: () => node.state.idleMs(), watchCollections: onFullCollections, onError: (err) => console.error('memory trim failed:', err) })
  release.start()
  return {
    stop: () => release.stop(),
    figures: () => ({ memoryTrims: release.stats.trims, memoryTrimmedSinceLastWrite: release.trimmedSinceLastWrite() }),
  }
}
