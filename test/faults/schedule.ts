/**
 * A seeded schedule of real-process faults under write load, and its verdict: every acknowledged
 * write on the primary and on every owner's local copy, no acknowledged key ever read as absent.
 */
import { randomInt, seededRandom, type Random } from '../../src/util/random.js'
import { FaultCluster, type ClusterOptions } from './cluster.js'
import type { CheckResult } from './ledger.js'

export type FaultKind = 'kill-primary' | 'pause-primary' | 'kill-all' | 'topology-restart' | 'tab-churn' | 'wipe-peer'
export const FAULT_KINDS: readonly FaultKind[] = ['kill-primary', 'pause-primary', 'kill-all', 'topology-restart', 'tab-churn', 'wipe-peer']

export interface ScheduleOptions {
  seed: number
  peers: number
  replicas: number
  faults: readonly FaultKind[]
  /** Grace before the service re-replicates a down node's domains; kill-all stays down longer. */
  healDelayMs?: number
  /** How long a paused primary stays stopped. */
  pauseMs?: number
  /** Writing time before, between and after the faults: [min, max] ms, drawn per gap. */
  gapMs?: readonly [number, number]
  /** How long the cluster gets to settle after the writers stop, before the check runs anyway. */
  settleMs?: number
  writersPerPeer?: number
  keysPerWriter?: number
  /** Tabs (ephemeral members, tab.ts) open from the start; 'tab-churn' closes one and opens one. */
  tabs?: number
  log?: (line: string) => void
  /** Told of the cluster as soon as it exists, so a caller's cleanup can stop it too. */
  onCluster?: (c: FaultCluster) => void
}

export interface ScheduleResult extends CheckResult {
  seed: number
  label: string
  /** What the cluster looked like if it did not settle before the check; undefined if it did. */
  unsettled: string | undefined
  failures: string[]
  passed: boolean
  timeline: string[]
  /** Error codes the writers saw, with counts. */
  errorCodes: Record<string, number>
  tails: string
}

/** Every kind once in a seeded order, then `extra` more drawn at random. */
export function planFaults(rnd: Random, extra: number): FaultKind[] {
  const kinds = [...FAULT_KINDS]
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = randomInt(rnd, 0, i)
    ;[kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!]
  }
  for (let i = 0; i < extra; i++) kinds.push(FAULT_KINDS[randomInt(rnd, 0, FAULT_KINDS.length - 1)]!)
  return kinds
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runSchedule(o: ScheduleOptions): Promise<ScheduleResult> {
  const rnd = seededRandom(o.seed)
  const healDelayMs = o.healDelayMs ?? 3000
  const pauseMs = o.pauseMs ?? 6000
  const [gapMin, gapMax] = o.gapMs ?? [2000, 5000]
  const t0 = Date.now()
  const timeline: string[] = []
  const log = (line: string) => {
    const l = `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s ${line}`
    timeline.push(l)
    o.log?.(l)
  }
  const opts: ClusterOptions = { peers: o.peers, replicas: o.replicas, domains: 32, healDelayMs, heartbeatMs: 250, writersPerPeer: o.writersPerPeer ?? 2, keysPerWriter: o.keysPerWriter ?? 4, tabs: o.tabs ?? 2, log }
  const c = await FaultCluster.start(opts)
  o.onCluster?.(c)
  const done: string[] = []
  try {
    const first = await c.settle(60_000)
    if (first) c.failures.push(`did not settle before the writes: ${first}`)
    c.startWriting()
    log(`writing: ${o.peers} peers and ${opts.tabs} tabs × ${opts.writersPerPeer} writers`)
    await sleep(randomInt(rnd, gapMin, gapMax))
    for (const fault of o.faults) {
      done.push(await perform(c, fault, rnd, { healDelayMs, pauseMs }, log))
      log(`${done.at(-1)} done; ${c.ledger.acked} acked so far`)
      await sleep(randomInt(rnd, gapMin, gapMax))
    }
    await c.stopWriting()
    log(`writers stopped: ${c.ledger.acked} acked, ${c.ledger.unknown} unknown`)
    const unsettled = await c.settle(o.settleMs ?? 90_000)
    log(unsettled ? `did not settle: ${unsettled}` : 'settled')
    const r = await c.verify()
    log('checked')
    const passed = !unsettled && c.failures.length === 0 && r.lost === 0 && r.divergent === 0 && r.absent === 0 && r.absentDuringRun === 0 && r.phantom === 0 && r.readErrors === 0 && r.staleReads === 0
    return { ...r, seed: o.seed, label: `${o.peers} peers, replicas ${o.replicas}: ${done.join(', ')}`, unsettled, failures: c.failures, passed, timeline, errorCodes: Object.fromEntries(c.ledger.errorCodes), tails: passed ? '' : c.tails() }
  } finally {
    await c.close()
  }
}

async function perform(c: FaultCluster, fault: FaultKind, rnd: Random, t: { healDelayMs: number; pauseMs: number }, log: (l: string) => void): Promise<string> {
  const leaders = async () => {
    const out: { name: string; led: number }[] = []
    for (const n of c.aliveDurable()) out.push({ name: n, led: (await c.metrics(n))?.domainsPrimary ?? 0 })
    return out
  }
  switch (fault) {
    case 'kill-primary': {
      const ls = (await leaders()).filter((l) => l.led > 0)
      const victim = ls.length > 0 ? ls[randomInt(rnd, 0, ls.length - 1)]!.name : c.names[randomInt(rnd, 0, c.names.length - 1)]!
      const downMs = randomInt(rnd, 500, 2500)
      log(`kill -9 ${victim} (leads ${ls.find((l) => l.name === victim)?.led ?? 0} domains), back in ${downMs} ms`)
      await c.killPeer(victim)
      const before = c.ackCounts()
      await sleep(downMs)
      await c.restartPeer(victim)
      log(`reads through ${victim} right after its restart: ${await c.probeReads(victim, before)} answered`)
      return `kill-primary ${victim}`
    }
    case 'pause-primary': {
      const ls = (await leaders()).sort((a, b) => b.led - a.led)
      const victim = ls[0]?.name ?? c.names[0]!
      log(`SIGSTOP ${victim} (leads ${ls[0]?.led ?? 0} domains) for ${t.pauseMs} ms`)
      c.pausePeer(victim)
      const before = c.ackCounts()
      await sleep(t.pauseMs)
      // The reads go out while it is still stopped, so they wait in its input and are the first
      // thing it handles on SIGCONT, before it can hear from the topology service that it was
      // replaced: exactly when a primary that skips its lead check answers from its stale copy.
      const probe = c.probeReads(victim, before)
      c.resumePeer(victim)
      log(`SIGCONT ${victim}`)
      log(`reads through ${victim}, sent before SIGCONT: ${await probe} answered`)
      return `pause ${victim}`
    }
    case 'kill-all': {
      const downMs = t.healDelayMs + 2000
      log(`kill -9 every peer, down ${downMs} ms (heal delay ${t.healDelayMs} ms)`)
      await Promise.all(c.names.map((n) => c.killPeer(n)))
      await sleep(downMs)
      await Promise.all(c.names.map((n) => c.restartPeer(n)))
      return 'kill-all'
    }
    case 'wipe-peer': {
      // An operator replaces a peer's disk (or deletes its data folder) and starts it again under
      // its id. Only once every domain has its full set of copies: then each of its domains has
      // another owner, and losing its disk must lose nothing.
      const unsettled = await c.settle(60_000)
      if (unsettled) log(`not settled before the wipe: ${unsettled}`)
      const ls = await leaders()
      const victim = ls[randomInt(rnd, 0, ls.length - 1)]?.name ?? c.names[0]!
      const downMs = randomInt(rnd, 500, 2500)
      log(`kill -9 ${victim} (leads ${ls.find((l) => l.name === victim)?.led ?? 0} domains) and delete its data folder; back on an empty disk in ${downMs} ms`)
      await c.wipePeer(victim)
      await sleep(downMs)
      await c.restartPeer(victim)
      log(`reads through ${victim} right after its restart on an empty disk: ${await c.probeReads(victim)} answered`)
      // Until its domains are copied back, each has one copy fewer: a wiped disk is a failure that
      // lasts until healing ends, and the next fault must not come on top of it.
      const healed = await c.settle(90_000)
      log(healed ? `not healed 90 s after the wipe: ${healed}` : `${victim} healed back`)
      return `wipe-peer ${victim}`
    }
    case 'topology-restart': {
      const downMs = randomInt(rnd, 300, 1500)
      log(`kill -9 the topology service, back in ${downMs} ms`)
      await c.killTopology()
      await sleep(downMs)
      await c.restartTopology()
      return 'topology-restart'
    }
    case 'tab-churn': {
      // A tab closes (its user closes it, or it crashes) and another opens: what it wrote must
      // stay readable from the durable members, at once.
      const open = c.tabs()
      const victim = open.length > 0 ? open[randomInt(rnd, 0, open.length - 1)]! : undefined
      if (victim) {
        const clean = randomInt(rnd, 0, 1) === 0
        const m = await c.metrics(victim)
        log(`close tab ${victim} (${clean ? 'closed by its user' : 'kill -9'}; it leads ${m?.domainsPrimary ?? '?'} domains and backs up ${m?.domainsBackup ?? '?'})`)
        await c.closeTab(victim, clean)
        const durable = c.aliveDurable()
        const via = durable[randomInt(rnd, 0, durable.length - 1)]!
        log(`reads of ${victim}'s keys through ${via} right after: ${await c.probeReads(via, undefined, 32, (k) => k.includes(`-${victim}.w`))} answered`)
      }
      const opened = await c.openTab()
      log(`opened tab ${opened}`)
      return `tab-churn ${victim ?? '(none open)'} -> ${opened}`
    }
  }
}

export function summaryLine(i: number, r: ScheduleResult): string {
  const absent = r.absentDuringRun > 0 ? `${r.absent} (+${r.absentDuringRun} during the run)` : String(r.absent)
  const extra = [r.staleReads > 0 ? `${r.staleReads} stale reads` : '', r.phantom > 0 ? `${r.phantom} refused-but-applied` : '', r.readErrors > 0 ? `${r.readErrors} failed reads` : '', r.unsettled ? 'not settled' : '', ...r.failures].filter(Boolean)
  return `schedule ${i} seed ${r.seed} [${r.label}]: acked ${r.acked}, unknown ${r.unknown}, lost ${r.lost}, divergent ${r.divergent}, absent ${absent}${extra.length ? `; ${extra.join('; ')}` : ''} — ${r.passed ? 'ok' : 'FAILED'}`
}
