/**
 * automerge-repo on the benchmark workload: three repos in this process, joined pairwise by
 * automerge-repo's MessageChannel network adapter (automerge-repo ships no WebRTC adapter for
 * Node). One document holds the objects; one repo writes, and a change counts when both other
 * repos have it. Bytes are the sync messages' payloads posted on the channels.
 */
import { Repo, type DocHandle } from '@automerge/automerge-repo'
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel'
import { MessageChannel, MessagePort } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { percentile } from './stats.js'
import type { CrdtResult } from './yjs.js'

type Doc = { objects: Record<string, Record<string, number>>; last: number }

let bytesPosted = 0
const post = MessagePort.prototype.postMessage as (this: MessagePort, msg: unknown, transfer?: unknown) => void
;(MessagePort.prototype as { postMessage: unknown }).postMessage = function (this: MessagePort, msg: unknown, transfer?: unknown) {
  const data = (msg as { data?: unknown } | undefined)?.data
  if (data instanceof ArrayBuffer || data instanceof Uint8Array) bytesPosted += data.byteLength
  return post.call(this, msg, transfer)
}

export class AutomergeCluster {
  private constructor(
    private readonly repos: Repo[],
    private readonly handles: DocHandle<Doc>[],
  ) {}

  static async start(objects: number, fields: number): Promise<AutomergeCluster> {
    const repos = [new Repo({ network: [] }), new Repo({ network: [] }), new Repo({ network: [] })]
    for (let i = 0; i < repos.length; i++)
      for (let j = i + 1; j < repos.length; j++) {
        const { port1, port2 } = new MessageChannel()
        repos[i]!.networkSubsystem.addNetworkAdapter(new MessageChannelNetworkAdapter(port1 as never))
        repos[j]!.networkSubsystem.addNetworkAdapter(new MessageChannelNetworkAdapter(port2 as never))
      }
    const init: Doc = { objects: {}, last: 0 }
    for (let i = 0; i < objects; i++) init.objects[`o${i}`] = Object.fromEntries(Array.from({ length: fields }, (_, f) => [`f${f}`, 0]))
    const writer = repos[0]!.create<Doc>(init)
    const handles = [writer, ...(await Promise.all(repos.slice(1).map((r) => r.find<Doc>(writer.url))))]
    return new AutomergeCluster(repos, handles)
  }

  async run(ops: number, base: number, objects: number, fields: number, gapMs = 0): Promise<CrdtResult> {
    const [writer, ...readers] = this.handles as [DocHandle<Doc>, ...DocHandle<Doc>[]]
    const sent = new Map<number, number>()
    const lat: number[] = []
    const bytes0 = bytesPosted
    const t0 = performance.now()
    let lastArrival = 0
    const arrived = readers.map(
      (h) =>
        new Promise<void>((resolve) => {
          let seen = base
          const onChange = () => {
            const last = h.doc()!.last
            const t = performance.now()
            for (let n = seen + 1; n <= last; n++) lat.push(t - sent.get(n)!)
            seen = Math.max(seen, last)
            if (seen >= base + ops) {
              lastArrival = Math.max(lastArrival, t)
              h.off('change', onChange)
              resolve()
            }
          }
          h.on('change', onChange)
        }),
    )
    for (let op = 1; op <= ops; op++) {
      const n = base + op
      sent.set(n, performance.now())
      writer.change((d) => {
        d.objects[`o${op % objects}`]![`f${Math.floor(op / objects) % fields}`] = n
        d.last = n
      })
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs))
      else if (op % 20 === 0) await new Promise((r) => setImmediate(r))
    }
    await Promise.all(arrived)
    lat.sort((a, b) => a - b)
    return { opsPerSec: ops / ((lastArrival - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99), bytesPerOp: (bytesPosted - bytes0) / ops }
  }

  async close(): Promise<void> {
    await Promise.all(this.repos.map((r) => r.shutdown()))
  }
}
