/**
 * Where a peer's resident memory goes around the mem30 fill (fresh.ts `memoryAfterFill`): every
 * 2 s from just before the fill to `seconds` after it, each other peer's resident size (anonymous,
 * file-backed, glibc's main [heap]), V8's heap by space (committed / used), external and
 * ArrayBuffer bytes, its collections once quiet and trims, what it holds (objects, arena bytes,
 * log entries) and V8's collections since the last line (kind/flags, start, ms).
 *   DM_MEM_DETAIL=1 bash .ci/isolate npx tsx bench/mem-probe.ts [runs] [seconds]
 */
import { startDm } from './fresh.js'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const MB = (n: number) => (n / 1e6).toFixed(1)
const RUNS = Number(process.argv[2] ?? 1)
const WAIT = Number(process.argv[3] ?? 36)
for (let run = 0; run < RUNS; run++) {
  const c = await startDm(3, 2)
  try {
    const row = async (label: string) => {
      for (const i of [1, 2]) {
        const m = (await c.peers[i]!.ask({ op: 'mem' }, 'mem')) as any
        const sp = Object.fromEntries(m.spaces.map((s: any) => [s.name, s]))
        const met = await c.peers[i]!.p.metrics()
        console.log(`${label} p${i + 1} rss ${MB(m.usage.rss)} anon ${MB(m.smaps.anon)} file ${MB(m.smaps.file)} [heap] ${MB(m.smaps.heapSeg)} | v8 total ${MB(m.heap.total_heap_size)} phys ${MB(m.heap.total_physical_size)} used ${MB(m.heap.used_heap_size)} | new ${MB(sp.new_space.size)}/${MB(sp.new_space.physical)} used ${MB(sp.new_space.used)} old ${MB(sp.old_space.size)} used ${MB(sp.old_space.used)} code ${MB(sp.code_space.size)} lo ${MB(sp.large_object_space.size)} | ext ${MB(m.usage.external)} ab ${MB(m.usage.arrayBuffers)} malloced ${MB(m.heap.malloced_memory)} | coll ${(met.process as any).memoryCollections}/${(met.process as any).memoryCollectMs}ms trims ${(met.process as any).memoryTrims} | obj ${met.objects} enc ${MB(met.encodedBytes as number)} log ${met.logEntries} | gcs ${m.collections.map((g: any) => `${g.kind}@${((g.at - t0) / 1000).toFixed(1)}s:${g.ms.toFixed(0)}ms`).join(' ')}`)
      }
    }
    let t0 = Date.now()
    await row('before')
    t0 = Date.now()
    const filled = await c.peers[0]!.ask({ op: 'fill-small', objects: 100_000 }, 'filled', 600_000)
    if (filled.error) throw new Error(String(filled.error))
    console.log(`filled in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t0 = Date.now()
    for (let s = 0; s <= WAIT; s += 2) {
      await row(`t+${s}`)
      await sleep(Math.max(0, t0 + (s + 2) * 1000 - Date.now()))
    }
  } finally {
    await c.close()
  }
}
