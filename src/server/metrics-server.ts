/**
 * An optional HTTP endpoint on a Node peer: /metrics (Prometheus text), /metrics.json, /health,
 * and /local?vs=..&key=.. (this node's own copy of one key, read-only, for fault tests and
 * operators comparing replicas). Bound to 127.0.0.1 unless told otherwise.
 */
import { createServer, type Server } from 'node:http'
import { virtualServerId } from '../ids.js'
import type { MeshNode, NodeMetrics } from '../node/mesh-node.js'
import { NoPrimaryError } from '../errors.js'

export interface MetricsServer {
  readonly url: string
  close(): Promise<void>
}

export function prometheusText(m: NodeMetrics): string {
  const node = `node="${m.nodeId}"`
  const lines: string[] = []
  const gauge = (name: string, help: string, value: number, labels = node) => {
    lines.push(`# HELP domainmesh_${name} ${help}`, `# TYPE domainmesh_${name} gauge`, `domainmesh_${name}{${labels}} ${value}`)
  }
  gauge('view_epoch', 'Epoch of the newest view this node follows.', m.epoch)
  gauge('peers', 'Peers with an open data channel.', m.peers.length)
  gauge('domains_primary', 'Domains this node leads.', m.domainsPrimary)
  gauge('domains_backup', 'Domains this node backs up.', m.domainsBackup)
  gauge('objects', 'Objects held in all replicas on this node.', m.objects)
  gauge('encoded_bytes', 'Bytes of the objects kept encoded in memory (all but the most recently used), dead records not yet reclaimed included.', m.encodedBytes)
  gauge('log_entries', 'Log entries held in memory, all domains.', m.logEntries)
  gauge('under_replicated_domains', 'Domains this node leads with fewer copies than wanted.', m.underReplicated)
  gauge('healing_domains_done', 'Domains copied in the current healing round.', m.healing.domainsDone)
  gauge('healing_domains_total', 'Domains to copy in the current healing round.', m.healing.domainsTotal)
  gauge('healing_bytes', 'Bytes copied in the current healing round.', m.healing.bytes)
  for (const [name, help, value] of [
    ['messages_in_total', 'Envelopes received.', m.envelopesIn],
    ['messages_out_total', 'Envelopes sent.', m.envelopesOut],
    ['frames_in_total', 'Frames received.', m.framesIn],
    ['frames_out_total', 'Frames sent.', m.framesOut],
    ['bytes_in_total', 'Frame bytes received.', m.bytesIn],
    ['bytes_out_total', 'Frame bytes sent.', m.bytesOut],
    ['malformed_frames_total', 'Frames dropped as malformed.', m.malformed],
    ['snapshots_sent_total', 'Domain snapshots sent to other replicas.', m.snapshotsSent],
    ['snapshots_installed_total', 'Domain snapshots installed from other replicas.', m.snapshotsInstalled],
  ] as const) {
    lines.push(`# HELP domainmesh_${name} ${help}`, `# TYPE domainmesh_${name} counter`, `domainmesh_${name}{${node}} ${value}`)
  }
  // Seconds, the Prometheus base unit; the node counts in ms.
  const w = m.writeLatencyMs
  lines.push('# HELP domainmesh_write_duration_seconds Writes this node committed as primary, from taking the write to its acknowledgement (backups included).', '# TYPE domainmesh_write_duration_seconds histogram')
  for (const [le, count] of w.buckets) lines.push(`domainmesh_write_duration_seconds_bucket{${node},le="${le / 1000}"} ${count}`)
  lines.push(`domainmesh_write_duration_seconds_bucket{${node},le="+Inf"} ${w.count}`, `domainmesh_write_duration_seconds_sum{${node}} ${w.sum / 1000}`, `domainmesh_write_duration_seconds_count{${node}} ${w.count}`)
  lines.push('# HELP domainmesh_replication_lag_entries Per domain this node leads: log entries its slowest live backup has not acknowledged.', '# TYPE domainmesh_replication_lag_entries gauge')
  for (const [domain, entries] of Object.entries(m.replicationLag)) lines.push(`domainmesh_replication_lag_entries{${node},domain="${domain}"} ${entries}`)
  lines.push('# HELP domainmesh_peer_rtt_ms Round-trip time to a peer.', '# TYPE domainmesh_peer_rtt_ms gauge')
  for (const [peer, ms] of Object.entries(m.rttMs)) lines.push(`domainmesh_peer_rtt_ms{${node},peer="${peer}"} ${ms}`)
  return lines.join('\n') + '\n'
}

/**
 * What this node holds of one key, without asking anyone: whether it has a complete copy of the
 * key's domain (`held`), the object in it, and who the node's view says leads and owns the domain.
 * A fault test compares this across the owners; it cannot see it through the store API, which
 * forwards to the primary when this node's copy is not complete.
 */
function localCopy(node: MeshNode, q: URLSearchParams): Record<string, unknown> {
  const vs = virtualServerId(q.get('vs') ?? '')
  const key = q.get('key') ?? ''
  const domain = node.state.domainOf(vs, key)
  const { held, obj } = node.state.readLocal(vs, key)
  const role = node.state.domains().find((d) => d.domain === domain)?.role
  let roles: { primary?: string; owners: readonly string[] } | undefined
  try {
    roles = node.state.placement(domain)
  } catch (err) {
    // No view yet: said with an absent primary. Anything else is a fault worth its 500.
    if (!(err instanceof NoPrimaryError)) throw err
  }
  return { node: node.nodeId, epoch: node.health().epoch, domain, role: role ?? null, held, found: obj !== undefined, value: obj?.value ?? null, version: obj?.version ?? 0, primary: roles?.primary ?? null, owners: roles?.owners ?? [] }
}

export interface MetricsServerOptions {
  /** Default 127.0.0.1. */
  host?: string
  /** Figures of the process beside the node's own (the CLI's memory trim), served in `process`. */
  figures?: () => Record<string, number | boolean>
}

export async function startMetricsServer(node: MeshNode, port: number, { host = '127.0.0.1', figures = () => ({}) }: MetricsServerOptions = {}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    try {
      if (req.url === '/metrics') {
        const mem = process.memoryUsage()
        const processLines = `# HELP process_resident_memory_bytes Resident memory of this process.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ${mem.rss}\n# HELP nodejs_heap_used_bytes V8 heap in use.\n# TYPE nodejs_heap_used_bytes gauge\nnodejs_heap_used_bytes ${mem.heapUsed}\n`
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheusText(node.metrics()) + processLines)
      } else if (req.url === '/metrics.json') {
        const mem = process.memoryUsage()
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...node.metrics(), process: { rssBytes: mem.rss, heapTotalBytes: mem.heapTotal, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, arrayBuffersBytes: mem.arrayBuffers, ...figures() } }))
      } else if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(node.health()))
      } else if (req.url?.startsWith('/local?')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(localCopy(node, new URL(req.url, 'http://x').searchParams)))
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /metrics.json, /health or /local?vs=..&key=..\n')
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const addr = server.address()
  const actual = typeof addr === 'object' && addr ? addr.port : port
  return {
    url: `http://${host}:${actual}`,
    close: () => new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  }
}
