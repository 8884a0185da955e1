/**
 * npm run load -- [--patches N] [--seed S]: N one-field patches (default 1,000,000) over 5 nodes
 * on the memory transport, with drops, duplicates, delays and a crash/restart every 50,000
 * patches. Memory must stay bounded (logs compact into snapshots; the in-memory log tail is capped),
 * and at the end every domain's owners must agree and every object hold its last acked value.
 */
import { parseArgs } from 'node:util'
import { nodeId, virtualServerId } from '../../src/ids.js'
import { seededRandom } from '../../src/util/random.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

const { values } = parseArgs({ options: { patches: { type: 'string' }, seed: { type: 'string' } } })
const total = Number(values.patches ?? 1_000_000)
const rnd = seededRandom(Number(values.seed ?? 7))
const VS = virtualServerId('load')
const KEYS = 2000
const BATCH = 500

const c = await ServiceCluster.start(['n1', 'n2', 'n3', 'n4', 'n5'], {
  replicas: 2,
  domainCount: 16,
  healDelayMs: 60_000,
  seed: 7,
  store: { compactBytes: 256 * 1024, retainEntries: 2000, writeTimeoutMs: 5000 },
})
const names = ['n1', 'n2', 'n3', 'n4', 'n5']
const store = () => c.node(names[Math.floor(rnd() * names.length)]!).store(VS)
for (let k = 0; k < KEYS; k += BATCH) await c.run(Promise.all(Array.from({ length: Math.min(BATCH, KEYS - k) }, (_, i) => store().put(`obj${k + i}`, { n: 0, pad: 'x'.repeat(64) }))))

c.net.setFaults({ drop: 0.01, duplicate: 0.01, delay: 0.05, delayMs: [1, 20] })
/**
 * Batches run one after another, and writes inside a batch are concurrent. So a key must end with
 * a value written in the last batch that had an acked write to it, or by a write of unknown outcome
 * in that batch or a later one.
 */
const lastAckedBatch = new Map<string, number>()
const written = new Map<string, { batch: number; n: number; acked: boolean }[]>()
const heap: number[] = []
let acked = 0
let failed = 0
const started = Date.now()
let down: string | undefined
for (let done = 0, batchNo = 0; done < total; done += BATCH, batchNo++) {
  // Every 50,000 patches one node crashes, and comes back 25,000 patches later (within its grace).
  if (done % 50_000 === 0 && done > 0 && !down) {
    down = names[1 + Math.floor(rnd() * 4)]!
    c.crash(down)
  } else if (done % 50_000 === 25_000 && down) {
    await c.startNode(down)
    down = undefined
  }
  const live = names.filter((n) => n !== down)
  const batch = Array.from({ length: Math.min(BATCH, total - done) }, (_, i) => {
    const key = `obj${Math.floor(rnd() * KEYS)}`
    const n = done + i + 1
    const w = { batch: batchNo, n, acked: false }
    if (!written.has(key)) written.set(key, [])
    written.get(key)!.push(w)
    return c
      .node(live[Math.floor(rnd() * live.length)]!)
      .store(VS)
      .patch(key, [{ op: 'replace', path: ['n'], value: n }])
      .then(
        () => {
          acked++
          w.acked = true
          lastAckedBatch.set(key, Math.max(lastAckedBatch.get(key) ?? -1, batchNo))
          // Writes before this batch can no longer be the final value: forget them (bounded memory).
          written.set(key, written.get(key)!.filter((x) => x.batch >= batchNo))
        },
        () => failed++,
      )
  })
  await c.run(Promise.all(batch), 120_000)
  if (done % 100_000 === 0) {
    globalThis.gc?.()
    heap.push(process.memoryUsage().heapUsed)
    console.log(`${done} patches, ${acked} acked, ${failed} failed, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB, ${((Date.now() - started) / 1000).toFixed(0)} s`)
  }
}
if (down) await c.startNode(down)
c.net.setFaults({})
await c.settleHealing(120_000)

// No acked patch is lost: every key holds a value its history allows; all owners of every domain agree.
let wrong = 0
for (const [key, batch] of lastAckedBatch) {
  const v = (await c.run(c.node('n1').store(VS).get<{ n: number }>(key)))!
  const allowed = written.get(key)!.filter((w) => w.batch === batch || (w.batch > batch && !w.acked)).map((w) => w.n)
  if (!allowed.includes(v.n)) wrong++
}
const view = c.service.view()
let divergent = 0
for (let d = 0; d < 16; d++) {
  const copies = (view.owners?.[d] ?? []).map((o) => JSON.stringify([...c.nodes.get(o)!.state.objectsOf(d)].map(([k, obj]) => [k, obj.value, obj.version]).sort()))
  if (new Set(copies).size > 1) divergent++
}
const growth = heap.length > 2 ? heap[heap.length - 1]! / heap[1]! : 1
console.log(
  `${total} patches over 5 nodes in ${((Date.now() - started) / 1000).toFixed(0)} s with faults (${c.net.stats.dropped} frames dropped, ${c.net.stats.duplicated} duplicated, ${c.net.stats.delayed} delayed, ${Math.floor(total / 50_000)} crash/restart cycles): ${acked} acked, ${failed} failed, ${wrong} acked values missing, ${divergent} divergent domains; heap ${heap.map((h) => (h / 1e6).toFixed(0)).join(' → ')} MB (×${growth.toFixed(2)} after the first 100,000)`,
)
const ok = wrong === 0 && divergent === 0 && growth < 2
console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed')
await c.close()
process.exit(ok ? 0 : 1)
