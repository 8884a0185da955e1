/**
 * A benchmark peer: `domainmesh node`, plus a `from: 'local'` subscription that notes when this
 * node's copy applies each paced write (a negative value, see `paced` in domainmesh.ts), on the
 * same clock as the writer's send times. The times stay here until the benchmark asks for them
 * with an `arrivals` line on stdin, as the Yjs peers keep theirs: a line printed per copy woke
 * the benchmark's process, the writer, while the write's other copy was still on its way. The
 * throughput runs write positive values, but the subscription still costs the peers one event
 * per applied entry in every run: a small handicap for domainmesh, kept so that every figure
 * comes from the same processes.
 *
 * For the fresh-cluster runs (fresh.ts) the peer also takes JSON commands on stdin and answers in
 * JSON lines: `fill` the objects, `track` a plan (workload.ts) on its own copy, `write` a plan as
 * the writer, and `cpu` (this process's CPU time, all threads).
 */
import { readFileSync } from 'node:fs'
import { constants as perfConstants, performance, PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8'
import { createInterface } from 'node:readline'
import { nodeCommand } from '../src/cli/node-command.js'
import { loadCollector, loadMallocTrim } from '../src/node/memory-release.js'
import { healValue } from './memory.js'
import { changes, PlanTracker, type Plan } from './workload.js'

const node = await nodeCommand(process.argv.slice(3))
const now = () => performance.timeOrigin + performance.now()
const out = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`)
let arrivals: string[] = []
let tracker: PlanTracker | undefined
const store = node?.store('bench')
store?.subscribe({ prefix: 'o' }, (e) => {
  const p = e.change.kind === 'patch' ? e.change.patches[0] : undefined
  if (typeof p?.value !== 'number') return
  if (p.value < 0) arrivals.push(`arrival ${-p.value} ${now()}\n`)
  else if (tracker) tracker.seen(Number(e.key.slice(1)), Number((p.path[0] as string).slice(1)), p.value)
}, { from: 'local' })

/**
 * `DM_MEM_DETAIL=1`: the peer notes its collections (kind, start, ms) and answers `mem` with where
 * its resident memory is (fresh.ts prints it). Off by default: a `gc` observer costs every
 * collection an entry.
 */
const collections: { kind: string; at: number; ms: number }[] = []
if (process.env.DM_MEM_DETAIL) {
  const kinds: Record<number, string> = { [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const d = (e as { detail?: { kind?: number; flags?: number } }).detail
      if (d?.kind !== perfConstants.NODE_PERFORMANCE_GC_MINOR) collections.push({ kind: `${kinds[d?.kind ?? 0] ?? d?.kind}/${d?.flags ?? 0}`, at: performance.timeOrigin + e.startTime, ms: e.duration })
    }
  }).observe({ entryTypes: ['gc'] })
}
function memDetail(): object {
  const smaps = Object.fromEntries(readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n').map((l) => /^(\w+):\s+(\d+) kB/.exec(l)).filter((m) => m).map((m) => [m![1], Number(m![2]) * 1024]))
  let heapSeg = 0
  for (const block of readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) if (/\[heap\]/.test(block.split('\n')[0]!)) heapSeg += Number(/\nRss:\s+(\d+)/.exec(block)?.[1] ?? 0) * 1024
  return { at: now(), usage: process.memoryUsage(), heap: getHeapStatistics(), spaces: getHeapSpaceStatistics().map((s) => ({ name: s.space_name, size: s.space_size, used: s.space_used_size, available: s.space_available_size, physical: s.physical_space_size })), smaps: { rss: smaps.Rss, anon: smaps.Anonymous, file: (smaps.Rss ?? 0) - (smaps.Anonymous ?? 0), heapSeg }, collections: collections.splice(0) }
}

/**
 * A fresh peer brought to rest: what a quiet node does by itself after a burst (memory-release.ts),
 * done here at once for V8's start-up headroom, which stays below the collection's threshold. The
 * memory figure's baseline is read after it, so that the growth is what the data costs.
 */
async function rest(): Promise<void> {
  const [collect, trim] = await Promise.all([loadCollector(), loadMallocTrim()])
  if (typeof collect === 'function') await collect()
  await sleep(1000) // the sweeper frees the ArrayBuffers
  if (typeof trim === 'function') trim()
}

const turn = () => new Promise((r) => setImmediate(r))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Puts `objects` objects from `concurrency` loops: `o<i>` with `fields` zeroes, or (`small`) memory.ts's `h<i>` in virtual server 'heal'. */
async function fill(objects: number, fields: number, small = false, concurrency = 32): Promise<void> {
  const value = Object.fromEntries(Array.from({ length: fields }, (_, f) => [`f${f}`, 0]))
  const heal = node!.store('heal')
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < objects; i = next++) {
      // A put is idempotent: one whose outcome a primary change left unknown is sent again (memory.ts's fill).
      for (let attempt = 1; ; attempt++) {
        try {
          await (small ? heal.put(`h${i}`, healValue(i)) : store!.put(`o${i}`, { ...value }))
          break
        } catch (err) {
          const code = (err as { code?: string }).code
          if (attempt >= 3 || (code !== 'STALE_EPOCH' && code !== 'OUTCOME_UNKNOWN')) throw err
        }
      }
    }
  }))
}

/**
 * The writer: unpaced, the CRDT writers' discipline (200 changes per event-loop turn, none
 * awaited); paced, one change every `gapMs` without awaiting it either, as the Yjs writer does.
 * It answers once every change is acknowledged (every owner holds it on disk) or failed, so that
 * a run in which a change failed (a peer marked down mid-run on a starved machine fails the
 * writes in flight to its domains) says so instead of waiting for copies that never come.
 */
async function write(plan: Plan, gapMs: number): Promise<object> {
  const sent: Record<number, number> = {}
  const acks: Promise<unknown>[] = []
  let errors = 0
  let firstError: string | undefined
  const t0 = now()
  let i = 0
  for (const c of changes(plan)) {
    if (gapMs) sent[c.value] = now()
    const ack = store!.patch(`o${c.object}`, [{ op: 'replace', path: [`f${c.field}`], value: c.value }]).catch((err: unknown) => {
      errors++
      firstError ??= String(err)
    })
    acks.push(ack)
    if (gapMs) await sleep(gapMs)
    else if (++i % 200 === 0) await turn()
  }
  const loopEnd = now()
  await Promise.all(acks)
  return { op: 'written', t0, loopEnd, sent: gapMs ? sent : undefined, acked: now(), errors, firstError }
}

// The benchmark's process holds our stdin: when it dies, even by a signal that skips its exit
// handlers, the pipe ends and so do we (orphaned peers once skewed a whole benchmark run).
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'arrivals') {
      process.stdout.write(`${arrivals.join('')}arrivals end\n`)
      arrivals = []
      return
    }
    if (!line.startsWith('{')) return
    const cmd = JSON.parse(line) as { op: string; objects?: number; fields?: number; plan?: Plan; gapMs?: number; times?: boolean }
    if (cmd.op === 'fill-small') void fill(cmd.objects!, 0, true, 64).then(() => out({ op: 'filled' }), (err: unknown) => out({ op: 'filled', error: String(err) }))
    else if (cmd.op === 'fill') void fill(cmd.objects!, cmd.fields!).then(() => out({ op: 'filled' }), (err: unknown) => out({ op: 'filled', error: String(err) }))
    else if (cmd.op === 'track') {
      const t = (tracker = new PlanTracker(cmd.plan!, now))
      out({ op: 'tracking' })
      void t.complete().then((at) => {
        if (tracker === t) tracker = undefined
        out({ op: 'applied', at, times: cmd.times ? Object.fromEntries(t.arrived) : undefined })
      })
    } else if (cmd.op === 'write') void write(cmd.plan!, cmd.gapMs ?? 0).then(out)
    else if (cmd.op === 'mem') out({ op: 'mem', ...memDetail() })
    else if (cmd.op === 'rest') void rest().then(() => out({ op: 'rested' }), (err: unknown) => out({ op: 'rested', error: String(err) }))
    else if (cmd.op === 'cpu') {
      const u = process.cpuUsage()
      out({ op: 'cpu', user: u.user, system: u.system })
    }
  })
  .on('close', () => process.exit(0))
