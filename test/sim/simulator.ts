/**
 * Deterministic simulation: one seed drives a cluster (real nodes and topology service over the
 * memory transport and a fake clock) through random puts, patches (some of two paths), deletes,
 * read-modify-write updates (a counter, an append; some in bursts on one key from several nodes),
 * compare-and-set writes on the version a read saw (`ifVersion`: create-if-absent, the whole
 * object, one array element by index spelled as number or string, two fields) and reads, while
 * nodes crash and restart from their disks, links partition and frames are dropped, duplicated
 * and delayed. Then everything heals and the run is checked: every key's history is linearizable
 * against a model of the object (so no acknowledged write or increment is lost, and no
 * compare-and-set is applied over a change it did not see: with the primary's version check
 * removed, most seeds fail), no read of a never-deleted key with an acknowledged put answers
 * "absent", the final reads all answer, and every domain's owners hold the same data.
 * Session clients call their sessions throughout (see `sessions.ts`); each session's history must
 * be linearizable too, so a session that lost a write or vanished fails the seed.
 *
 * Two schedules. 'classic': at most `replicas - 1` nodes are down at a time, crashes only between
 * steps. 'all' adds, from a second random stream (so 'classic' runs stay as they were):
 * - process pauses (SIGSTOP/SIGCONT): a node's timers and links freeze for longer than failure
 *   detection, sometimes longer than the heal delay, then it goes on with everything queued;
 * - whole-cluster crashes: every node dies at once (disks kept), the cluster stays down for a
 *   while, then the nodes restart in a random order with random gaps;
 * - topology-service crashes: a new service takes over the saved state, sometimes while a node
 *   crashes too;
 * - crashes at any point: from a fake-clock timer in the middle of a step, and of a primary as a
 *   backup's ack reaches it (so writes are in flight when it dies).
 * Pauses count against the `replicas - 1` budget as crashes do; only the whole-cluster crash goes
 * beyond it (disks survive it; memory-only sessions do not, so their clients start over).
 *
 * `tabs: true` mixes the two kinds of member: durable nodes p1..p3 (Node peers on files, crashed
 * and restarted from their disks as above) and ephemeral tabs t1, t2, ... (memory storage,
 * `durable: false`). A tab that fails is closed for good: crashed, its copy thrown away, never
 * started again under its id; new tabs with fresh ids join from time to time. While a durable
 * member is up, any tab may close at any moment (between steps, from a timer mid-step, as an ack
 * reaches it, soon after the only durable owner of a domain it holds went down: `leaderScenario`),
 * beyond the `replicas - 1` budget: DESIGN.md item 8 keeps a durable copy of every domain then,
 * so nothing acknowledged may be lost. Only the session copies (memory only, on any member) make
 * a close wait, as they make crashes wait. The schedule keeps a durable member up in the
 * service's view at all times (a durable node crashes or pauses only while another one is up),
 * except in a whole-cluster crash, which closes every tab first and then stops the durable
 * nodes; they come back before any new tab joins. So no tab ever acknowledges writes alone
 * (DESIGN.md lets tabs carry the cluster alone only while no durable member is up, and lets what
 * they acknowledged then go with them), and the loss checks apply to every write. On top of the
 * usual checks, every domain must have a primary at the end (in every mode).
 */
import { nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import { domainRoles } from '../../src/topology/placement.js'
import { DomainMeshError, retryOf } from '../../src/errors.js'
import { seededRandom, type Random } from '../../src/util/random.js'
import type { TimerHandle } from '../../src/util/clock.js'
import { ServiceCluster, type ServiceClusterOptions } from '../helpers/service-cluster.js'
import { carriesAck } from './frames.js'
import { checkModel, checkRegister, type CheckResult, type ModelOp } from './linearizability.js'
import { SimSessions, type SessionSimStats } from './sessions.js'

export interface SimStats extends SessionSimStats {
  ops: number
  acked: number
  unknown: number
  rejected: number
  reads: number
  crashes: number
  restarts: number
  partitions: number
  dropped: number
  duplicated: number
  delayed: number
  pauses: number
  clusterCrashes: number
  serviceCrashes: number
  timerCrashes: number
  ackCrashes: number
  /** Compare-and-set patches sent (of `cas`), acknowledged, and conflicts of any write. */
  casSent: number
  casAcked: number
  conflicts: number
  /** Tabs mode: tabs closed for good (of them, right after the durable owner of a domain they led went down), opened, and closes put off. */
  tabCloses: number
  leaderCloses: number
  tabOpens: number
  tabClosesDeferred: number
}

export interface SimResult {
  seed: number
  ok: boolean
  failures: string[]
  stats: SimStats
}

export type FaultSchedule = 'classic' | 'all'

export interface SimOptions {
  steps?: number
  faults?: FaultSchedule
  /** Durable nodes and ephemeral tabs that close for good (see the top of the file). */
  tabs?: boolean
}

const VS = virtualServerId('sim')

/**
 * What each key holds, and the model the checker runs against: `v` is the last value written to
 * it, `n` a counter that `update` increments (read-modify-write: a lost increment shows), `log`
 * what `update` and multi-path patches appended. Keys k4 and k5 are also deleted (undefined).
 */
interface KeyValue {
  v: string
  n: number
  log: string[]
}
type KeyState = KeyValue | undefined
type ClientKind = 'put' | 'patch' | 'multi' | 'update' | 'inc' | 'append' | 'delete' | 'cas' | 'read'
interface KeyOp extends ModelOp<KeyState> {
  kind: ClientKind
  /** What a read saw. */
  seen?: KeyValue | undefined
  /** The value a write sets or appends (every write's value is unique). */
  value?: string
}
const DELETABLE = new Set(['k4', 'k5'])
const fresh = (v: string): KeyValue => ({ v, n: 0, log: [] })
/** Field by field: the order of an object's keys is no part of its value. */
const same = (s: KeyState, seen: KeyValue | undefined): boolean => (s === undefined || seen === undefined ? s === seen : s.v === seen.v && s.n === seen.n && JSON.stringify(s.log) === JSON.stringify(seen.log))

/** The model's step for a write of `kind` (a read's and a compare-and-set's are set once known). */
function stepOf(kind: ClientKind, value: string): (s: KeyState) => KeyState | null {
  switch (kind) {
    case 'put':
      return () => fresh(value)
    case 'delete':
      return () => undefined
    case 'patch':
    case 'update':
      return (s) => (s ? { ...s, v: value } : null)
    case 'multi':
      return (s) => (s ? { ...s, v: value, log: [...s.log, value] } : null)
    case 'inc':
      return (s) => (s ? { ...s, n: s.n + 1 } : null)
    case 'append':
      return (s) => (s ? { ...s, log: [...s.log, value] } : null)
    default:
      return () => null
  }
}
const pick = <T>(rnd: Random, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!

/**
 * Whether an error says the write was not applied: its class's `retry` is 'safe' (not carried
 * out: not the primary, no primary, no route, not ready) or 'never' (bad input, a failed
 * compare-and-set, a missing key), and the store retries only 'safe' ones, so no earlier attempt
 * of the same call can have been taken either. 'unknown' (timeouts, dropped links, closed
 * replicas, a fenced primary's StaleEpochError) may come after the write reached a primary, and
 * so may anything that is not a DomainMeshError (a bug): its outcome is unknown.
 */
const definite = (err: unknown): boolean => err instanceof DomainMeshError && retryOf(err) !== 'unknown'

/** Pauses last longer than failure detection (3 heartbeats of 1 s), some longer than detection plus the heal delay. */
const HEAL_DELAY_MS = 2000
const DETECTION_MS = 3000

export async function simulate(seed: number, opts: SimOptions | number = {}): Promise<SimResult> {
  const { steps = 80, faults = 'all', tabs = false } = typeof opts === 'number' ? { steps: opts } : opts
  const rnd = seededRandom(seed)
  // The new faults draw from their own stream: the classic schedule of a seed stays what it was.
  const frnd = seededRandom(seed ^ 0x5bd1e995)
  // So do the tabs mode's members, closes and opens: a seed without tabs runs as it did.
  const trnd = seededRandom(seed ^ 0x27d4eb2f)
  const replicas = 2 + Math.floor(rnd() * 2)
  /** Tabs mode: the durable nodes (never removed from `names`, so `names[0]` is always one of them). */
  const durables = tabs ? ['p1', 'p2', 'p3'].slice(0, 2 + Math.floor(trnd() * 2)) : []
  let tabCount = 0
  const newTabName = () => `t${++tabCount}`
  /** The members: every running or crashed node; a tab leaves it when it closes. */
  const names = tabs ? [...durables, ...Array.from({ length: 2 + Math.floor(trnd() * 2) }, newTabName)] : ['n1', 'n2', 'n3', 'n4']
  const isTab = (n: string) => tabs && !durables.includes(n)
  const keys = ['k1', 'k2', 'k3', 'k4', 'k5']
  // Every other seed keeps almost no log in memory, so catch-up by snapshot is the rule there.
  const retainEntries = seed % 2 === 0 ? 2 : 1000
  const clusterOpts = { replicas, domainCount: 8, healDelayMs: HEAL_DELAY_MS, seed, store: { writeTimeoutMs: 3000, retainEntries } }
  const c = tabs ? await startMixed(names, isTab, clusterOpts) : await ServiceCluster.start(names, clusterOpts)
  /** Starts (or restarts from its disk) a node; in tabs mode, as the kind of member it is. */
  const startNode = (n: string) => (tabs ? c.startNode(n, { durable: !isTab(n) }) : c.startNode(n))
  const history = new Map<string, KeyOp[]>(keys.map((k) => [k, []]))
  const stats: SimStats = {
    sessionOps: 0, sessionAcked: 0, crashesDeferred: 0, ops: 0, acked: 0, unknown: 0, rejected: 0, reads: 0, crashes: 0, restarts: 0, partitions: 0, dropped: 0, duplicated: 0, delayed: 0,
    pauses: 0, clusterCrashes: 0, serviceCrashes: 0, timerCrashes: 0, ackCrashes: 0, casSent: 0, casAcked: 0, conflicts: 0,
    tabCloses: 0, leaderCloses: 0, tabOpens: 0, tabClosesDeferred: 0,
  }
  const failures: string[] = []
  const inFlight = new Set<Promise<unknown>>()
  const down = new Set<NodeId>()
  /** Paused nodes and the timer that resumes each. */
  const paused = new Map<NodeId, TimerHandle>()
  let opId = 0
  /** Logical time: every invocation and response gets its own tick, so equal fake times are not taken for concurrency. */
  let ticks = 0
  const tick = () => ++ticks
  let partitioned: NodeId | undefined
  /** Set once the storm is over: armed faults stand down. */
  let calm = false
  /** SIM_TRACE=1 prints every action and operation with its fake time (for replaying a seed). */
  const trace = (msg: string) => {
    if (process.env.SIM_TRACE) console.log(`${c.clock.now()} ${msg}`)
  }

  /** Nodes a client can call from: running and not stopped. */
  const live = () => names.map(nodeId).filter((n) => !down.has(n) && c.nodes.has(n) && !paused.has(n))
  const track = (p: Promise<unknown>) => {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  }

  const sessions = new SimSessions(c, rnd, () => ++opId, track, trace, tick)

  /** One more node may fail (crash or pause) within the failure model, and sessions have their copies. */
  const mayFail = () => down.size + paused.size < replicas - 1 && live().length > 2 && sessions.replicated(replicas)

  const crash = (victim: NodeId, why: string) => {
    if (isTab(victim)) return closeTab(victim, why)
    down.add(victim)
    const resume = paused.get(victim)
    if (resume) c.clock.clearTimeout(resume)
    paused.delete(victim)
    trace(`CRASH ${victim}${why}`)
    c.crash(victim)
    stats.crashes++
  }

  /**
   * Tabs mode: a durable node that runs, is not paused, and is up in the service's view (while
   * the service is down, the nodes keep the view they had, and a restarted service waits for them).
   */
  const durableUp = (n: string) => {
    const id = nodeId(n)
    if (!c.nodes.has(id) || down.has(id) || paused.has(id)) return false
    return !c.serviceUp || c.service.view().members.some((m) => m.nodeId === id && m.status === 'up')
  }
  /**
   * Whether `victim` may crash or pause now: the budget; and in tabs mode a durable node fails
   * only while another durable one stays up, so no tab ever acknowledges writes alone (see the top).
   */
  const mayFailNode = (victim: NodeId) => mayFail() && (!isTab(victim) ? !tabs || durables.some((d) => d !== victim && durableUp(d)) : true)
  /**
   * Any tab may close while a durable member is up. Sessions live in memory only, on any member:
   * a close waits until they have their copies again, as crashes do (they are no store data).
   */
  const tabMayClose = () => !calm && durables.some(durableUp) && sessions.replicated(replicas)
  /** A tab closes for good: its process dies, its copy is gone, its id never comes back. */
  const closeTab = (victim: NodeId, why: string) => {
    const resume = paused.get(victim)
    if (resume) c.clock.clearTimeout(resume)
    paused.delete(victim)
    trace(`CLOSE TAB ${victim}${why}`)
    c.crash(victim)
    c.disks.delete(victim)
    names.splice(names.indexOf(victim), 1)
    stats.tabCloses++
  }
  /** A new tab (a fresh id, nothing stored) joins. */
  const openTab = async () => {
    const n = newTabName()
    names.push(n)
    trace(`OPEN TAB ${n}`)
    stats.tabOpens++
    await startNode(n)
  }
  const runningTabs = () => names.filter((n) => isTab(n) && c.nodes.has(nodeId(n))).map(nodeId)
  /** Durable nodes crashed on purpose that the steps must not restart yet (see `leaderScenario`). */
  const held = new Set<NodeId>()

  /**
   * One client operation from a random live node; its invocation and response go in the key's
   * history, with the step the model takes for it (see `KeyState`).
   */
  const clientOp = (kind: ClientKind, node: NodeId, key: string, value: string, final = false) => {
    const ops = history.get(key)!
    const mesh = c.nodes.get(node)!
    const store = mesh.store(VS)
    const op: KeyOp = { id: ++opId, kind, label: `${kind}(${value})`, call: tick(), ret: undefined, step: stepOf(kind, value), ...(kind !== 'read' ? { value } : {}), ...(kind === 'inc' || kind === 'delete' ? { twin: kind } : {}), ...(kind === 'read' ? { observer: true } : {}) }
    stats.ops++
    const d = mesh.state.domainOf(VS, key)
    trace(`#${op.id} ${kind} ${key} (domain ${d}) via ${node} ${value}`)
    // A call made in a process that dies never comes back, so its outcome is unknown.
    const died = c.died(mesh).then(() => {
      throw new Error(`the client's process (${node}) died`)
    })
    /**
     * A compare-and-set: what it read (recorded as a read of its own), then a write conditional on
     * it: create-if-absent, the whole object (put or delete), one log element by index, or two fields.
     */
    const variant = kind === 'cas' ? rnd() : 0
    const conditional = async () => {
      const read: KeyOp = { id: ++opId, kind: 'read', label: '', call: op.call, ret: undefined, step: () => null, observer: true }
      const seen = await store.getVersioned<KeyValue>(key)
      read.ret = tick()
      const obs = seen?.value
      Object.assign(read, { label: `read(${JSON.stringify(obs)}) for #${op.id}`, step: (s: KeyState) => (same(s, obs) ? s : null), seen: obs })
      ops.push(read)
      op.call = tick()
      if (!obs) {
        // Create only if absent.
        op.label = `create-if-absent(${value})`
        op.step = (s) => (s === undefined ? fresh(value) : null)
        await store.put(key, fresh(value), { ifVersion: 0 })
        return
      }
      stats.casSent++
      if (variant < 0.2 || (variant < 0.6 && obs.log.length === 0)) {
        // The whole object, on the version the read saw: any write since, and it conflicts.
        const del = DELETABLE.has(key) && variant < 0.1
        op.label = `${del ? 'delete' : `put(${value})`} if unchanged since read #${read.id}`
        op.step = (s) => (same(s, obs) ? (del ? undefined : fresh(value)) : null)
        await (del ? store.delete(key, { ifVersion: seen.version }) : store.put(key, fresh(value), { ifVersion: seen.version }))
      } else if (variant < 0.6) {
        // One element of the log by index, spelled as a number or as a string: an append (or a
        // put) since shifts what the index means, so the check conflicts; so does a write to it.
        const i = Math.floor(((variant - 0.2) / 0.4) * obs.log.length)
        const seg = variant < 0.4 ? i : String(i)
        op.label = `replace log[${JSON.stringify(seg)}] ${obs.log[i]} -> ${value} if unchanged since read #${read.id}`
        op.step = (s) => (s && s.log.length === obs.log.length && s.log[i] === obs.log[i] ? { ...s, log: s.log.map((x, j) => (j === i ? value : x)) } : null)
        await store.patch(key, [{ op: 'replace', path: ['log', seg], value }], { ifVersion: seen.version })
      } else {
        // Two paths at once, on the version the read saw: either changed since, and it conflicts.
        op.label = `cas(v ${obs.v} -> ${value}, n ${obs.n} -> ${obs.n + 100})`
        op.step = (s) => (s && s.v === obs.v && s.n === obs.n ? { ...s, v: value, n: obs.n + 100 } : null)
        await store.patch(key, [{ op: 'replace', path: ['v'], value }, { op: 'replace', path: ['n'], value: obs.n + 100 }], { ifVersion: seen.version })
      }
    }
    const call = async (): Promise<KeyValue | undefined> => {
      if (kind === 'read') return store.get<KeyValue>(key)
      if (kind === 'put') await store.put(key, fresh(value))
      else if (kind === 'patch') await store.patch(key, [{ op: 'replace', path: ['v'], value }])
      else if (kind === 'multi') await store.patch(key, [{ op: 'replace', path: ['v'], value }, { op: 'add', path: ['log', '-'], value }])
      else if (kind === 'update') await store.update<KeyValue>(key, (d) => void (d.v = value), { retries: 3 })
      else if (kind === 'inc') await store.update<KeyValue>(key, (d) => void d.n++)
      else if (kind === 'append') await store.update<KeyValue>(key, (d) => void d.log.push(value))
      else if (kind === 'delete') await store.delete(key)
      else await conditional()
      return undefined
    }
    const run = async () => {
      try {
        const got = await Promise.race([call(), died])
        op.ret = tick()
        if (kind === 'read') {
          op.label = `read(${JSON.stringify(got)})`
          op.step = (s) => (same(s, got) ? s : null)
          op.seen = got
          trace(`#${op.id} read ${key} -> ${JSON.stringify(got)}`)
          stats.reads++
        } else {
          trace(`#${op.id} ${kind} ${key} acked`)
          stats.acked++
          if (kind === 'cas' && !op.label.startsWith('create')) stats.casAcked++
        }
        ops.push(op)
      } catch (err) {
        const code = (err as DomainMeshError).code
        trace(`#${op.id} ${kind} ${key} failed: ${code ? `${code} ` : ''}${(err as Error).message}`)
        if (final) failures.push(`key ${key}: the final read #${op.id} via ${node} failed: ${(err as Error).message}`)
        if (op.kind === 'read') return // a failed read during the storm tells nothing
        if (code === 'CAS_CONFLICT') stats.conflicts++
        if (code === 'KEY_NOT_FOUND') {
          // The primary (or update's read) found nothing: that answered "absent".
          ops.push({ ...op, kind: 'read', label: `${op.label}: absent`, step: (s) => (s === undefined ? s : null), ret: tick(), twin: undefined, observer: true })
          stats.rejected++
        } else if (definite(err)) stats.rejected++ // not applied: it has no place in the history
        else {
          stats.unknown++
          ops.push(op)
        }
      }
    }
    track(run())
  }

  /** The node's process stops for `ms`, then goes on (SIGCONT) from a fake-clock timer. */
  const pause = (victim: NodeId, ms: number) => {
    trace(`PAUSE ${victim} for ${ms} ms`)
    c.pause(victim)
    stats.pauses++
    paused.set(
      victim,
      c.clock.setTimeout(() => {
        paused.delete(victim)
        resume(victim)
      }, ms),
    )
  }

  /**
   * SIGCONT. A client in the resumed process reads every key at once: the process may still
   * take itself for a primary that was replaced meanwhile, and must not answer from its old copy.
   */
  const resume = (n: NodeId) => {
    trace(`RESUME ${n}`)
    c.resume(n)
    if (c.nodes.has(n)) for (const k of keys) clientOp('read', n, k, '')
  }

  /** Every node dies at once; the cluster stays down for a while, then comes back node by node. */
  const crashAll = async () => {
    stats.clusterCrashes++
    // Tabs mode: the tabs close first, while the durable nodes still run (see the top): the other
    // way round, the service may for an instant see no durable member up but a tab, hand that tab
    // the domains of a durable owner that is gone (tabs carry the cluster alone then), and the
    // tab closes next: by design, such a domain has no owner left (seed 633).
    const running = tabs ? [...c.nodes.keys()].sort((a, b) => Number(isTab(b)) - Number(isTab(a))) : [...c.nodes.keys()]
    trace(`CRASH ALL (${running.join(', ')})`)
    for (const n of running) crash(n, ' (whole cluster)')
    sessions.retire()
    await c.settle(200 + Math.floor(frnd() * 2 * (DETECTION_MS + HEAL_DELAY_MS)))
    const order = [...down].map((n) => ({ n, k: frnd() })).sort((a, b) => a.k - b.k).map((x) => x.n)
    for (const n of order) {
      if (!c.serviceUp) await startService()
      trace(`RESTART ${n} (whole cluster)`)
      // Counted back before it starts: a crash while it starts (an ack it gets) puts it down again.
      down.delete(n)
      await startNode(n)
      stats.restarts++
      await c.settle(Math.floor(frnd() * 1500))
    }
    // The tabs closed with the cluster; new ones open once the durable nodes are back.
    if (tabs) for (let i = 1 + Math.floor(trnd() * 3); i > 0; i--) await openTab()
    sessions.start(3, live())
  }

  const startService = async () => {
    trace(`SERVICE START`)
    await c.startService()
  }

  /** The topology service dies and a new one takes over its saved state, sometimes with a node crash meanwhile. */
  const restartService = async () => {
    stats.serviceCrashes++
    trace(`SERVICE CRASH`)
    c.crashService()
    await c.settle(Math.floor(frnd() * 1500))
    if (frnd() < 0.5 && mayFail()) {
      const victim = pick(frnd, live())
      if (mayFailNode(victim)) crash(victim, ' (while the service is down)')
    }
    await c.settle(Math.floor(frnd() * 1500))
    await startService()
  }

  /** A crash that fires from a fake-clock timer, in the middle of whatever the step is doing. */
  const crashLater = (ms: number) => {
    c.clock.setTimeout(() => {
      if (calm || !mayFail()) return
      const victim = pick(frnd, live())
      if (!mayFailNode(victim)) return
      stats.timerCrashes++
      crash(victim, ` (timer, mid-step)`)
    }, ms)
  }

  /** The next time a backup's ack reaches `victim` (a primary), it dies: before it handles the ack, or just after. */
  let ackVictim: { node: NodeId; after: boolean } | undefined
  c.net.setTap((from, to, bytes) => {
    if (!ackVictim || to !== ackVictim.node || calm) return
    if (!c.nodes.has(to) || !carriesAck(from, to, bytes)) return
    const { node, after } = ackVictim
    ackVictim = undefined
    if (!(isTab(node) ? tabMayClose() : mayFailNode(node))) return
    stats.ackCrashes++
    if (after) queueMicrotask(() => c.nodes.has(node) && !down.has(node) && crash(node, ` (just after an ack from ${from})`))
    else crash(node, ` (as an ack from ${from} arrives)`)
  })

  /** The new faults, one step's worth, from their own random stream. */
  const newFault = async () => {
    const r = frnd()
    if (r < 0.04) {
      // Failure detection takes DETECTION_MS; removal HEAL_DELAY_MS after that.
      if (mayFail()) {
        const victim = pick(frnd, live())
        const ms = DETECTION_MS + 500 + Math.floor(frnd() * (HEAL_DELAY_MS + 3000))
        if (mayFailNode(victim)) pause(victim, ms)
      }
    } else if (r < 0.052) {
      await crashAll()
    } else if (r < 0.07) {
      await restartService()
    } else if (r < 0.12) {
      crashLater(1 + Math.floor(frnd() * 100))
    } else if (r < 0.16) {
      const primaries = live().filter((n) => c.nodes.get(n)!.state.domains().some((d) => d.role === 'primary'))
      if (primaries.length > 0) ackVictim = { node: pick(frnd, primaries), after: frnd() < 0.5 }
    }
  }

  /**
   * The tab fault of seed 7400 of the fault runs: the only durable owner of domains that tabs
   * hold goes down; a tab then leads them (at once: a crash closes the service link), and soon
   * after, before or after the heal delay, that tab closes. The durable node stays down until then.
   */
  const leaderScenario = () => {
    if (!c.serviceUp) return
    const owners = c.service.view().owners ?? {}
    const domainsOf = (d: string) =>
      Object.keys(owners)
        .map(Number)
        .filter((x) => owners[x]!.filter((o) => !isTab(o)).join() === d && owners[x]!.some((o) => isTab(o) && c.nodes.has(o)))
    const candidates = durables.filter((d) => durableUp(d) && domainsOf(d).length > 0 && mayFailNode(nodeId(d)))
    if (candidates.length === 0) return
    const victim = nodeId(pick(trnd, candidates))
    const domains = domainsOf(victim)
    crash(victim, ` (durable owner of domains ${domains.join(' ')}, shared with tabs)`)
    held.add(victim)
    c.clock.setTimeout(() => {
      held.delete(victim)
      // The tab that leads one of them; or, once a durable member took the lead back, one that holds one.
      const holding = (role?: string) => runningTabs().filter((t) => c.nodes.get(t)!.state.domains().some((x) => (role === undefined || x.role === role) && domains.includes(x.domain)))
      const leaders = holding('primary').length > 0 ? holding('primary') : holding()
      trace(`LEADER CLOSE? ${victim} domains ${domains.join(' ')}: tabs ${leaders.join(' ')}; may close ${tabMayClose()}`)
      if (calm || leaders.length === 0) return
      const tab = pick(trnd, leaders)
      if (!tabMayClose()) return void stats.tabClosesDeferred++
      stats.leaderCloses++
      closeTab(tab, ` (it holds a domain of ${victim}, which is down)`)
    }, 20 + Math.floor(trnd() * (HEAL_DELAY_MS + 1000)))
  }

  /** Tabs mode, one step's worth from its own stream: tabs close (between steps or mid-step) and open. */
  const tabFault = async () => {
    const r = trnd()
    if (r < 0.04) {
      const open = runningTabs()
      if (open.length === 0) return
      const victim = pick(trnd, open)
      if (tabMayClose()) closeTab(victim, '')
      else stats.tabClosesDeferred++
    } else if (r < 0.07) {
      c.clock.setTimeout(() => {
        const open = runningTabs()
        if (calm || open.length === 0) return
        const victim = pick(trnd, open)
        if (tabMayClose()) closeTab(victim, ' (timer, mid-step)')
        else stats.tabClosesDeferred++
      }, 1 + Math.floor(trnd() * 100))
    } else if (r < 0.12) {
      if (c.serviceUp && runningTabs().length < 4) await openTab()
    } else if (r < 0.15) {
      leaderScenario()
    }
  }

  // Every key exists before the storm, so patches have something to change.
  for (const k of keys) clientOp('put', nodeId(names[0]!), k, `${k}-init`)
  sessions.start(3, live())
  await c.run(Promise.all([...inFlight]))

  for (let step = 0; step < steps; step++) {
    if (faults === 'all') await newFault()
    if (tabs) await tabFault()
    const r = rnd()
    const nodes = live()
    /** Crashed nodes a step may restart. */
    const restartable = [...down].filter((n) => !held.has(n))
    if (r < 0.15 && nodes.length > 0) {
      sessions.step(nodes, `s${seed}-${opId + 1}`)
    } else if (r < 0.55 && nodes.length > 0) {
      const kind = pick(rnd, ['put', 'patch', 'multi', 'update', 'inc', 'append', 'cas', 'delete', 'burst', 'burst', 'read', 'read'] as const)
      const key = pick(rnd, keys)
      if (kind === 'burst') {
        // Contention: a few read-modify-writes and compare-and-sets of one key at once, from any nodes.
        for (let i = 2 + Math.floor(rnd() * 3); i > 0; i--) clientOp(pick(rnd, ['inc', 'inc', 'cas', 'append'] as const), pick(rnd, nodes), key, `s${seed}-${opId + 1}`)
      } else clientOp(kind === 'delete' && !DELETABLE.has(key) ? 'put' : kind, pick(rnd, nodes), key, `s${seed}-${opId + 1}`)
    } else if (r < 0.63 && tabs) {
      // A tab closes while a durable member is up; a durable node fails within the budget.
      const victim = pick(rnd, nodes)
      if (isTab(victim) ? tabMayClose() : mayFailNode(victim)) crash(victim, '')
      else if (!sessions.replicated(replicas)) sessions.stats.crashesDeferred++
    } else if (r < 0.63 && down.size + paused.size < replicas - 1 && nodes.length > 2 && !sessions.replicated(replicas)) {
      sessions.stats.crashesDeferred++
    } else if (r < 0.63 && down.size + paused.size < replicas - 1 && nodes.length > 2) {
      crash(pick(rnd, nodes), '')
    } else if (r < 0.72 && restartable.length > 0 && c.serviceUp) {
      const back = pick(rnd, restartable)
      trace(`RESTART ${back}`)
      down.delete(back)
      await startNode(back)
      stats.restarts++
    } else if (r < 0.77 && !partitioned && nodes.length > 2) {
      partitioned = pick(rnd, nodes)
      trace(`PARTITION ${partitioned}`)
      c.net.partition([partitioned], names.map(nodeId).filter((n) => n !== partitioned))
      stats.partitions++
    } else if (r < 0.82 && partitioned) {
      trace(`HEAL`)
      c.net.heal()
      partitioned = undefined
    } else if (r < 0.87) {
      c.net.setFaults(rnd() < 0.5 ? {} : { drop: 0.05, duplicate: 0.05, delay: 0.2, delayMs: [1, 40] })
      // Views reach the nodes at different times: a new primary may act before the old one knows.
      for (const n of names) c.topologyDelayMs.set(n, rnd() < 0.5 ? 0 : Math.floor(rnd() * 30))
    }
    await c.settle(1 + Math.floor(rnd() * 120))
  }

  // Heal everything, bring every node back, let healing finish, and let every operation end.
  calm = true
  ackVictim = undefined
  c.net.setTap(undefined)
  c.net.heal()
  c.net.setFaults({})
  c.topologyDelayMs.clear()
  for (const [n, t] of paused) {
    c.clock.clearTimeout(t)
    resume(n)
  }
  paused.clear()
  if (!c.serviceUp) await startService()
  for (const n of [...down]) {
    trace(`RESTART ${n}`)
    await startNode(n)
  }
  down.clear()
  try {
    await c.run(Promise.all([...inFlight]), 60_000)
    await c.settleHealing(60_000)
    // Settled means every node is back in the view and follows the service's latest one.
    for (let t = 0; !converged(c); t += 50) {
      if (t >= 60_000) throw new Error(`views did not converge: service @${c.service.view().epoch}, ${[...c.nodes.values()].map((n) => `${n.nodeId} @${n.health().epoch}`).join(', ')}`)
      await c.settle(50)
    }
    await c.settleHealing(60_000)
  } catch (err) {
    const view = c.service.view()
    const health = [...c.nodes.values()].map((n) => `${n.nodeId} ${JSON.stringify(n.health())}`).join('\n')
    failures.push(`did not settle: ${(err as Error).message}\nmembers ${JSON.stringify(view.members.map((m) => m.nodeId + ':' + m.status))}\nowners ${JSON.stringify(view.owners)}\n${health}`)
  }
  // Session copies are repaired on views and every second: give them time, then they must be whole.
  for (let t = 0; t < 30_000 && !sessions.replicated(replicas); t += 100) await c.settle(100)
  if (!sessions.replicated(replicas)) failures.push(`sessions: after healing, some client has no primary or not all of its backups:\n${sessions.describe()}`)
  // Once everything healed, every read must answer.
  trace('FINAL READS')
  for (const k of keys) clientOp('read', nodeId(names[0]!), k, '', true)
  sessions.finalReads(live())
  await c.run(Promise.all([...inFlight]), 30_000).catch((err: Error) => failures.push(`final reads did not come back (${err.message})`))
  failures.push(...sessions.failures)

  for (const [key, ops] of history) {
    if (!DELETABLE.has(key)) failures.push(...absentReads(key, ops))
    try {
      const res = checkKey(ops)
      if (!res.ok) failures.push(`key ${key}: history is not linearizable:\n${res.why}`)
    } catch (err) {
      failures.push(`key ${key}: ${(err as Error).message}`)
    }
  }
  for (const [sid, ops] of sessions.histories) {
    try {
      const res = checkRegister(ops)
      if (!res.ok) failures.push(`session ${sid}: history is not linearizable:\n${res.why}`)
    } catch (err) {
      failures.push(`session ${sid}: ${(err as Error).message}`)
    }
  }
  failures.push(...divergence(c), ...primaryless(c))
  Object.assign(stats, sessions.stats, { dropped: c.net.stats.dropped, duplicated: c.net.stats.duplicated, delayed: c.net.stats.delayed })
  await c.close()
  return { seed, ok: failures.length === 0, failures, stats }
}

/** Starts a cluster of durable nodes and tabs (`isTab`), the durable ones first. */
async function startMixed(names: readonly string[], isTab: (n: string) => boolean, opts: ServiceClusterOptions): Promise<ServiceCluster> {
  const c = new ServiceCluster(opts)
  for (const n of [...names].sort((a, b) => Number(isTab(a)) - Number(isTab(b)))) await c.startNode(n, { durable: !isTab(n) })
  await c.settleHealing()
  return c
}

/**
 * After healing, every domain has a primary that leads it: a domain whose owners all closed (tabs)
 * would have none for good (fault seed 7400).
 */
function primaryless(c: ServiceCluster): string[] {
  const out: string[] = []
  const view = c.service.view()
  const nodes = [...c.nodes.values()]
  const settings = nodes[0]!.settings
  for (let d = 0; d < settings.domainCount; d++) {
    const { primary } = domainRoles(view, settings, d)
    const node = primary !== undefined ? c.nodes.get(primary) : undefined
    if (!node) out.push(`domain ${d}: no primary after healing (owners ${JSON.stringify(view.owners?.[d] ?? [])}${view.waiting?.includes(d) ? ', waiting for them' : ''})`)
    else if (!node.state.domains().some((x) => x.domain === d && x.role === 'primary')) out.push(`domain ${d}: ${primary} is its primary in the view but does not lead it`)
  }
  return out
}

/** Every member is up in the service's view, and every node has applied that view. */
function converged(c: ServiceCluster): boolean {
  const view = c.service.view()
  return view.members.every((m) => m.status === 'up' && c.nodes.has(m.nodeId)) && [...c.nodes.values()].every((n) => n.health().epoch === view.epoch)
}

/** Keys k1..k3 are never deleted: once a put of one was acknowledged, no read may answer "absent". */
/**
 * A key's history against the model. A write of unknown outcome may always be taken as never
 * applied, so an order found without some of them is an order of the whole history. The search
 * first leaves out those whose value no read ever saw (nothing shows they happened), then, if it
 * finds no order that way, searches the whole history: a dozen concurrent appends of unknown
 * outcome that no read saw made the full search run out of its budget (seed 17878). Increments
 * and deletes carry no value to look for and always stay.
 */
function checkKey(ops: readonly KeyOp[]): CheckResult {
  const seen = new Set<string>()
  for (const o of ops) if (o.kind === 'read' && o.seen) for (const x of [o.seen.v, ...o.seen.log]) seen.add(x)
  const unseen = (o: KeyOp) => o.ret === undefined && o.value !== undefined && o.kind !== 'inc' && o.kind !== 'delete' && !seen.has(o.value)
  if (ops.some(unseen)) {
    try {
      if (checkModel<KeyState>(ops.filter((o) => !unseen(o)), undefined).ok) return { ok: true }
    } catch {
      // Out of budget without them too: the whole history decides below.
    }
  }
  return checkModel<KeyState>(ops, undefined)
}

function absentReads(key: string, ops: readonly KeyOp[]): string[] {
  const firstAck = ops.filter((o) => o.kind === 'put' && o.ret !== undefined).sort((a, b) => a.ret! - b.ret!)[0]
  if (!firstAck) return []
  return ops
    .filter((o) => o.kind === 'read' && o.seen === undefined && o.call > firstAck.ret!)
    .map((o) => `key ${key}: read #${o.id} answered "absent" after write #${firstAck.id} (${firstAck.label}) was acknowledged`)
}

/** Every owner of a domain must hold the same objects at the same versions. */
function divergence(c: ServiceCluster): string[] {
  const out: string[] = []
  const view = c.service.view()
  const nodes = [...c.nodes.values()]
  for (let d = 0; d < nodes[0]!.settings.domainCount; d++) {
    const owners = (view.owners?.[d] ?? []).filter((o) => c.nodes.has(o))
    const copies = owners.map((o) => JSON.stringify([...c.nodes.get(o)!.state.objectsOf(d)].map(([k, obj]) => [k, obj.value, obj.version]).sort()))
    if (new Set(copies).size > 1) out.push(`domain ${d}: owners ${owners.join(', ')} differ:\n${copies.join('\n')}`)
  }
  return out
}
