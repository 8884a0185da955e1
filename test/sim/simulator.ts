/**
 * Deterministic simulation: one seed drives a cluster (real nodes and topology service over the
 * memory transport and a fake clock) through random writes, patches, compare-and-set updates and
 * reads, while nodes crash and restart from their disks, links partition and frames are dropped,
 * duplicated and delayed. Then everything heals and the run is checked: every key's history is
 * linearizable (so no acknowledged write is lost), and every domain's owners hold the same data.
 * Session clients call their sessions throughout (see `sessions.ts`); each session's history must
 * be linearizable too, so a session that lost a write or vanished fails the seed.
 * At most `replicas - 1` nodes are down at a time, the failure model the system promises to survive.
 */
import { nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import { seededRandom, type Random } from '../../src/util/random.js'
import { ServiceCluster } from '../helpers/service-cluster.js'
import { checkRegister, type Op } from './linearizability.js'
import { SimSessions, type SessionSimStats } from './sessions.js'

export interface SimStats extends SessionSimStats {
  ops: number
  acked: number
  unknown: number
  reads: number
  crashes: number
  restarts: number
  partitions: number
  dropped: number
  duplicated: number
  delayed: number
}

export interface SimResult {
  seed: number
  ok: boolean
  failures: string[]
  stats: SimStats
}

const VS = virtualServerId('sim')
const pick = <T>(rnd: Random, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!

export async function simulate(seed: number, steps = 80): Promise<SimResult> {
  const rnd = seededRandom(seed)
  const replicas = 2 + Math.floor(rnd() * 2)
  const names = ['n1', 'n2', 'n3', 'n4']
  const keys = ['k1', 'k2', 'k3', 'k4', 'k5']
  // Every other seed keeps almost no log in memory, so catch-up by snapshot is the rule there.
  const retainEntries = seed % 2 === 0 ? 2 : 1000
  const c = await ServiceCluster.start(names, { replicas, domainCount: 8, healDelayMs: 2000, seed, store: { writeTimeoutMs: 3000, retainEntries } })
  const history = new Map<string, Op[]>(keys.map((k) => [k, []]))
  const stats: SimStats = { sessionOps: 0, sessionAcked: 0, crashesDeferred: 0, ops: 0, acked: 0, unknown: 0, reads: 0, crashes: 0, restarts: 0, partitions: 0, dropped: 0, duplicated: 0, delayed: 0 }
  const failures: string[] = []
  const inFlight = new Set<Promise<unknown>>()
  const down = new Set<NodeId>()
  let opId = 0
  let partitioned: NodeId | undefined
  /** SIM_TRACE=1 prints every action and operation with its fake time (for replaying a seed). */
  const trace = (msg: string) => {
    if (process.env.SIM_TRACE) console.log(`${c.clock.now()} ${msg}`)
  }

  const live = () => names.map(nodeId).filter((n) => !down.has(n) && c.nodes.has(n))
  const track = (p: Promise<unknown>) => {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  }

  /** One client operation from a random live node; its invocation and response go in the history. */
  const clientOp = (kind: 'put' | 'patch' | 'update' | 'read', node: NodeId, key: string, value: string) => {
    const ops = history.get(key)!
    const store = c.nodes.get(node)!.store(VS)
    const op: Op = { id: ++opId, kind: kind === 'read' ? 'read' : 'write', value: kind === 'read' ? undefined : value, call: c.clock.now(), ret: undefined }
    stats.ops++
    const d = c.nodes.get(node)!.state.domainOf(VS, key)
    trace(`#${op.id} ${kind} ${key} (domain ${d}) via ${node} ${value}`)
    const run = async () => {
      try {
        if (kind === 'read') {
          const got = (await store.get<{ v: string }>(key))?.v
          op.value = got
          op.ret = c.clock.now()
          trace(`#${op.id} read ${key} -> ${got}`)
          stats.reads++
          ops.push(op)
          return
        }
        if (kind === 'put') await store.put(key, { v: value })
        else if (kind === 'patch') await store.patch(key, [{ op: 'replace', path: ['v'], value }])
        else await store.update<{ v: string }>(key, (d) => void (d.v = value), { retries: 3 })
        op.ret = c.clock.now()
        trace(`#${op.id} ${kind} ${key} acked`)
        stats.acked++
        ops.push(op)
      } catch (err) {
        trace(`#${op.id} ${kind} ${key} failed: ${(err as Error).message}`)
        // A failed read tells nothing; a failed write may still have taken effect.
        if (op.kind === 'write') {
          stats.unknown++
          ops.push(op)
        }
      }
    }
    track(run())
  }

  const sessions = new SimSessions(c, rnd, () => ++opId, track, trace)

  // Every key exists before the storm, so patches have something to change.
  for (const k of keys) clientOp('put', nodeId('n1'), k, `${k}-init`)
  sessions.start(3, live())
  await c.run(Promise.all([...inFlight]))

  for (let step = 0; step < steps; step++) {
    const r = rnd()
    const nodes = live()
    if (r < 0.15 && nodes.length > 0) {
      sessions.step(nodes, `s${seed}-${opId + 1}`)
    } else if (r < 0.55 && nodes.length > 0) {
      const kind = pick(rnd, ['put', 'put', 'patch', 'patch', 'update', 'read', 'read'] as const)
      clientOp(kind, pick(rnd, nodes), pick(rnd, keys), `s${seed}-${opId + 1}`)
    } else if (r < 0.63 && down.size < replicas - 1 && nodes.length > 2 && !sessions.replicated(replicas)) {
      sessions.stats.crashesDeferred++
    } else if (r < 0.63 && down.size < replicas - 1 && nodes.length > 2) {
      const victim = pick(rnd, nodes)
      down.add(victim)
      trace(`CRASH ${victim}`)
      c.crash(victim)
      stats.crashes++
    } else if (r < 0.72 && down.size > 0) {
      const back = pick(rnd, [...down])
      trace(`RESTART ${back}`)
      await c.startNode(back)
      down.delete(back)
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
  c.net.heal()
  c.net.setFaults({})
  c.topologyDelayMs.clear()
  for (const n of [...down]) await c.startNode(n)
  down.clear()
  try {
    await c.run(Promise.all([...inFlight]), 60_000)
    await c.settleHealing(60_000)
  } catch (err) {
    const view = c.service.view()
    const health = [...c.nodes.values()].map((n) => `${n.nodeId} ${JSON.stringify(n.health())}`).join('\n')
    failures.push(`did not settle: ${(err as Error).message}\nmembers ${JSON.stringify(view.members.map((m) => m.nodeId + ':' + m.status))}\nowners ${JSON.stringify(view.owners)}\n${health}`)
  }
  for (const k of keys) clientOp('read', nodeId('n1'), k, '')
  sessions.finalReads(live())
  await c.run(Promise.all([...inFlight]), 30_000).catch(() => undefined)
  // Copies are repaired on views and every second: give them time, then they must be whole.
  for (let t = 0; t < 30_000 && !sessions.replicated(replicas); t += 100) await c.settle(100)
  if (!sessions.replicated(replicas)) failures.push(`sessions: after healing, some client has no primary or not all of its backups:\n${sessions.describe()}`)

  for (const [key, ops] of history) {
    try {
      const res = checkRegister(ops)
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
  failures.push(...divergence(c))
  Object.assign(stats, sessions.stats, { dropped: c.net.stats.dropped, duplicated: c.net.stats.duplicated, delayed: c.net.stats.delayed })
  await c.close()
  return { seed, ok: failures.length === 0, failures, stats }
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
