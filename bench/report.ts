/** The Markdown table of a benchmark run: every figure next to its target, with ratios. */
import { cell, figure, fmt, type Figure } from './stats.js'

export interface Meta {
  date: string
  runs: number
  ops: number
  automergeOps: number
  singleWriterOps: number
  pacedOps: number
  healObjects: number
  node: string
}

export function renderReport(r: Record<string, Figure>, meta: Meta): string {
  const f = (k: string): Figure => r[k] ?? { median: NaN, min: NaN, max: NaN, runs: [] }
  const med = (k: string) => f(k).median
  const ms = (k: string) => cell(f(k), 2)
  const mb = (k: string) => figure(f(k).runs.map((b) => b / 1e6))
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**')
  const rows: string[][] = [
    ['**The limit**', '', ''],
    ['raw data channel: 1 KiB messages/s', cell(f('rawMsgsPerSec')), ''],
    ['raw data channel: MB/s with 64 KiB messages', cell(f('rawMBPerSec'), 1), ''],
    ['**Throughput**: one-field changes/s until every replica holds them', '', ''],
    ['domainmesh, replicas 3 (all three nodes hold everything), writers never wait (as the CRDTs\'), counted when every replica has acked', `${cell(f('dm.r3.free.opsPerSec'))} — ${fmt((med('dm.r3.free.opsPerSec') / med('rawMsgsPerSec')) * 100, 1)} % of the raw message rate`, `≥ 50 % of the raw rate: ${verdict(med('dm.r3.free.opsPerSec') >= 0.5 * med('rawMsgsPerSec'))}`],
    ['domainmesh, replicas 3, 256 in flight / 16 writers (each awaits its commit)', `${cell(f('dm.r3.w256.opsPerSec'))} / ${cell(f('dm.r3.w16.opsPerSec'))}`, ''],
    ['domainmesh, replicas 2: writers never wait / 256 in flight / 16 writers', `${cell(f('dm.r2.free.opsPerSec'))} / ${cell(f('dm.r2.w256.opsPerSec'))} / ${cell(f('dm.r2.w16.opsPerSec'))}`, ''],
    ['Yjs + y-webrtc (3 processes; writers never wait)', `${cell(f('yjs.opsPerSec'))} — ${fmt(med('yjs.opsPerSec') / med('dm.r3.free.opsPerSec'), 2)}× domainmesh`, ''],
    [`automerge-repo (3 repos, MessageChannel; ${meta.automergeOps.toLocaleString('en-US')} changes per run)`, `${cell(f('automerge.opsPerSec'))} — ${fmt(med('automerge.opsPerSec') / med('dm.r3.free.opsPerSec'), 3)}× domainmesh`, ''],
    ['domainmesh, one writer, replicas 3 / 2', `${cell(f('dm.r3.w1.opsPerSec'))} / ${cell(f('dm.r2.w1.opsPerSec'))}`, ''],
    ['**Latency under full load** (ms)', 'p50 / p99', ''],
    ['domainmesh, replicas 3, 16 writers (commit: every replica has it)', `${ms('dm.r3.w16.p50')} / ${ms('dm.r3.w16.p99')}`, `p99 ≤ 50: ${verdict(med('dm.r3.w16.p99') <= 50)}`],
    ['domainmesh, replicas 2, 16 writers', `${ms('dm.r2.w16.p50')} / ${ms('dm.r2.w16.p99')}`, ''],
    ['domainmesh, replicas 3, 256 in flight (each change waits behind up to 255 others)', `${ms('dm.r3.w256.p50')} / ${ms('dm.r3.w256.p99')}`, ''],
    ['domainmesh, replicas 3, writers never wait (call → ack: mostly the queue of changes not yet sent)', `${ms('dm.r3.free.p50')} / ${ms('dm.r3.free.p99')}`, ''],
    ['Yjs (one-way: writer to each other peer)', `${ms('yjs.p50')} / ${ms('yjs.p99')}`, ''],
    ['automerge-repo (one-way)', `${ms('automerge.p50')} / ${ms('automerge.p99')}`, ''],
    ['**Latency at low load**: one change every 5 ms (ms)', 'p50 / p99', ''],
    ['domainmesh, replicas 3, one-way: write call → each other node\'s copy has applied it', `${ms('dm.r3.low.oneWayP50')} / ${ms('dm.r3.low.oneWayP99')}`, `at or below Yjs's (${fmt(med('dm.r3.low.oneWayP50') / med('yjs.low.p50'), 2)}× / ${fmt(med('dm.r3.low.oneWayP99') / med('yjs.low.p99'), 2)}×): ${verdict(med('dm.r3.low.oneWayP50') <= med('yjs.low.p50') && med('dm.r3.low.oneWayP99') <= med('yjs.low.p99'))}`],
    ['domainmesh, replicas 2, one-way', `${ms('dm.r2.low.oneWayP50')} / ${ms('dm.r2.low.oneWayP99')}`, ''],
    ['domainmesh, replicas 3 / 2, commit round trip (every owner has it on disk)', `${ms('dm.r3.low.p50')} / ${ms('dm.r3.low.p99')} · ${ms('dm.r2.low.p50')} / ${ms('dm.r2.low.p99')}`, ''],
    ['Yjs (one-way)', `${ms('yjs.low.p50')} / ${ms('yjs.low.p99')}`, ''],
    ['automerge-repo (one-way)', `${ms('automerge.low.p50')} / ${ms('automerge.low.p99')}`, ''],
    ['**Bytes**', '', ''],
    ['per change under full load (writers never wait, as in the throughput figure), all nodes, all messages: domainmesh replicas 3', cell(f('dm.r3.free.bytesPerOp')), `≤ 150: ${verdict(med('dm.r3.free.bytesPerOp') <= 150)}`],
    ['… with 256 in flight', cell(f('dm.r3.w256.bytesPerOp')), ''],
    ['… with 16 writers (fewer changes share a frame)', cell(f('dm.r3.w16.bytesPerOp')), ''],
    ['… Yjs / automerge-repo', `${cell(f('yjs.bytesPerOp'))} / ${cell(f('automerge.bytesPerOp'))}`, ''],
    [`one-leaf change to a ${fmt(med('bytes.bigObjectJson') / 1000)} KB object: domainmesh patch, all nodes, replicas 3`, cell(f('bytes.dm.patch')), ''],
    ['… the same change as a whole-object put', cell(f('bytes.dm.put')), ''],
    ['… as a Yjs update / an Automerge change (payload, once)', `${fmt(med('bytes.yjs.update'))} / ${fmt(med('bytes.automerge.change'))}`, ''],
    ['**Failover and healing**', '', ''],
    ['failover: kill -9 of a primary → first acknowledged write to its domain (ms)', cell(f('failoverMs')), `≤ 500: ${verdict(med('failoverMs') <= 500)}`],
    [`healing ${meta.healObjects.toLocaleString('en-US')} objects in 64 domains: full replication restored after the heal delay (ms)`, cell(f('heal.copyMs')), ''],
    ['… longest lock of one domain (ms; the node clock counts whole ms)', med('heal.maxLockMs') === 0 ? '< 1' : fmt(med('heal.maxLockMs'), 1), `≤ 2 × copy / 64 = ${fmt((2 * med('heal.copyMs')) / 64, 1)}: ${verdict(med('heal.maxLockMs') <= (2 * med('heal.copyMs')) / 64)}`],
    ['… p99 of writes to other domains, before the kill → during the healing (ms)', `${ms('heal.p99BeforeMs')} → ${ms('heal.p99DuringMs')}`, `within 1.5×: ${verdict(med('heal.p99DuringMs') <= 1.5 * med('heal.p99BeforeMs'))}`],
    ...(r['heal.p99DelayMs'] ? [['… the same writes during the heal delay (the victim\'s domains failing over; ms)', ms('heal.p99DelayMs'), '']] : []),
    ...(r['heal.rejoinMs'] ? [['… then the victim restarts on its data folder: full replication again, its domains copied back to it (ms, from the restart; its own start-up included)', cell(f('heal.rejoinMs')), '']] : []),
    ['**Memory** per 100,000 objects held: resident memory growth of a peer process (MB), at rest to at rest: the fresh peer before the fill, the peer after the healing, each once its V8 has given back the headroom of start-up or of the bursts (seconds the second took)', `${cell(mb('mem.bytesPer100k'), 1)} (${cell(figure(f('mem.restMs').runs.map((t) => t / 1000)))} s)`, `≤ 2× JSON (${fmt((2 * med('mem.jsonBytesPer100k')) / 1e6, 1)} MB): ${verdict(med('mem.bytesPer100k') <= 2 * med('mem.jsonBytesPer100k'))}`],
    ['… 3 s after the fill, before the healing (young generation and heap headroom of the burst included)', cell(mb('mem.rightAfterBytesPer100k'), 1), ''],
    ...(r['topo.etcd.viewsPerSec']
      ? [
          ['**Topology service**: embedded (one process, state file) / over etcd (3 members, 2 instances)', '', ''],
          ['kill -9 of the instance a node is on → its first view from another instance (ms; embedded: the service restarted at once). Over etcd: the instance that leads / the other one', `${cell(f('topo.embedded.killToViewMs'))} / ${cell(f('topo.etcd.killToViewMs'))} · ${cell(f('topo.etcd.killFollowerToViewMs'))}`, ''],
          ['views published and received on another instance, per second', `${cell(f('topo.embedded.viewsPerSec'))} / ${cell(f('topo.etcd.viewsPerSec'))}`, ''],
          ['signaling between two nodes (on two instances over etcd), one way, p50 (ms)', `${ms('topo.embedded.signalMs')} / ${ms('topo.etcd.signalMs')}`, ''],
        ]
      : []),
  ]
  return `# domainmesh benchmark

${meta.date} · Node ${meta.node} · ${meta.runs} runs per timed figure: median (min–max) · the workload: ${meta.ops.toLocaleString('en-US')} one-field changes per run (${meta.singleWriterOps.toLocaleString('en-US')} with one writer) on 1,000 objects × 20 fields · every system on the same machine in one run

| figure | value | target |
|---|---|---|
${rows.map((row) => `| ${row.join(' | ')} |`).join('\n')}

* domainmesh: three nodes, this process and two peer processes (\`domainmesh node\`, files on disk), WebRTC over loopback (node-datachannel). A change counts when its acknowledgement arrives: the primary sends it once every in-sync owner holds the write on disk, so latency under load is a full round trip. At low load the one-way figure is the write call to the moment each other node's copy applied it (a \`from: 'local'\` subscription in each peer process, same clock).
* Yjs: three processes in one y-webrtc room, simple-peer over webrtc-polyfill (node-datachannel, the same stack). A change counts when both other peers have it; latency is one-way (writer's send to arrival, same clock).
* automerge-repo: three repos in one process, joined by its MessageChannel adapter (it ships no WebRTC adapter for Node).
* Bytes: domainmesh counts its frame bytes (before DTLS/SCTP); Yjs the bytes given to the data channels; automerge-repo the sync payloads posted.
`
}
