/**
 * What the CLI prints. By default one line per event an operator acts on: a node joined, went down
 * or left, this node took over domains (failover), healing started, how far a long one is, and
 * when it finished (domains, bytes, time). Everything else (every view, every copy, every retry,
 * clean link closes) goes to `debug` namespaces under `domainmesh:`, shown with `--verbose` or
 * DEBUG=domainmesh:* (DEBUG=domainmesh:healing for one of them).
 */
import createDebug from 'debug'
import type { NodeId } from '../ids.js'
import type { MeshNode } from '../node/mesh-node.js'
import type { HealingStep } from '../healing/healing.js'
import { domainRoles } from '../topology/placement.js'
import type { ClusterSettings, View } from '../topology/view.js'
import type { Clock } from '../util/clock.js'

export interface ConsoleOut {
  /** A line that matters: always printed. */
  info(line: string): void
  /** A detail, printed only when its namespace (domainmesh:<ns>) is enabled. */
  debug(ns: string): (line: string) => void
}

/** Lines to stdout; details through `debug` (stderr), all of them when `verbose`. */
export function consoleOut(verbose: boolean, write: (line: string) => void = (line) => void process.stdout.write(line + '\n')): ConsoleOut {
  if (verbose) createDebug.enable([process.env.DEBUG, 'domainmesh:*'].filter(Boolean).join(','))
  const loggers = new Map<string, (line: string) => void>()
  return {
    info: write,
    debug: (ns) => {
      let log = loggers.get(ns)
      if (!log) {
        const d = createDebug(`domainmesh:${ns}`)
        loggers.set(ns, (log = (line: string) => d('%s', line)))
      }
      return log
    },
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

const copies = (n: number): string => `${n} domain ${n === 1 ? 'copy' : 'copies'}`

/** At most this many domain numbers in a line; the rest is counted. */
function domainList(domains: readonly number[], max = 8): string {
  const shown = domains.slice(0, max).join(', ')
  return domains.length > max ? `${shown} and ${domains.length - max} more` : shown
}

/**
 * This node's healing, as lines: "started" when a round does not finish with its first copy, a
 * progress line at most every `progressEveryMs` while it runs, "finished" with what it copied.
 * Each copy, and each failed copy that will be retried, is a debug line (domainmesh:healing).
 */
export class HealingConsole {
  private round: { startedAt: number; targets: Set<NodeId>; retried: number; lastLineAt: number } | undefined

  constructor(
    private readonly out: ConsoleOut,
    private readonly clock: Clock,
    private readonly progressEveryMs = 10_000,
  ) {}

  progress(p: HealingStep): void {
    const debug = this.out.debug('healing')
    if (p.error) debug(`copy of domain ${p.domain} to ${p.target} failed (${(p.error as Error).message}); will retry`)
    else debug(`${p.domainsDone}/${p.domainsTotal} domain copies done (${p.bytes} bytes); domain ${p.domain} to ${p.target}${p.copy ? `: ${copyTimes(p)}` : ' (dropped: no longer wanted)'}`)
    const now = this.clock.now()
    if (!this.round || this.round.startedAt !== p.startedAt) {
      this.round = { startedAt: p.startedAt, targets: new Set(), retried: 0, lastLineAt: p.startedAt }
      if (p.inProgress) this.out.info(`healing started: ${copies(p.domainsTotal)} planned (to ${p.target} first)`)
    }
    const r = this.round
    r.targets.add(p.target)
    if (p.error) r.retried++
    const took = Math.max(1, now - p.startedAt)
    if (!p.inProgress) {
      const retried = r.retried ? `, ${r.retried} retried` : ''
      this.out.info(`healing finished: ${copies(p.domainsDone - r.retried)} to ${[...r.targets].sort().join(', ')}, ${formatBytes(p.bytes)} in ${formatMs(took)}${retried}`)
      this.round = { ...r, startedAt: -1 }
    } else if (now - r.lastLineAt >= this.progressEveryMs) {
      r.lastLineAt = now
      this.out.info(`healing: ${p.domainsDone}/${p.domainsTotal} domain copies done, ${formatBytes(p.bytes)}, ${formatBytes((p.bytes * 1000) / took)}/s, ${formatMs(took)} so far`)
    }
  }
}

/** Where one copy's time went, for its debug line: what waited on what. */
function copyTimes(p: HealingStep): string {
  const c = p.copy!
  const sent = c.as === 'nothing' ? 'the target had it all' : `${c.as}, ${formatBytes(c.bytes)}`
  return `${sent}; queued ${formatMs(p.queuedMs)}, took ${formatMs(c.tookMs)} (target's position ${formatMs(c.positionMs)}, waiting for acks ${formatMs(c.waitedMs)}, ${c.resends} resends, locked ${formatMs(c.lockMs)}), then a pause of ${formatMs(p.pauseMs)}`
}

/**
 * Which domains this node gained and lost as primary from one view to the next, and from whom.
 * A domain it took over from a member that is now down (or gone) is a failover.
 */
export function leadershipChange(prev: View, next: View, settings: ClusterSettings, self: NodeId): { failover: Map<NodeId, number[]>; gained: number[]; lost: number[]; leads: number } {
  const upNext = new Set(next.members.filter((m) => m.status === 'up').map((m) => m.nodeId))
  const failover = new Map<NodeId, number[]>()
  const gained: number[] = []
  const lost: number[] = []
  let leads = 0
  for (let d = 0; d < settings.domainCount; d++) {
    const before = prev.epoch > 0 ? domainRoles(prev, settings, d).primary : undefined
    const after = domainRoles(next, settings, d).primary
    if (after === self) leads++
    if (after === self && before !== self) {
      gained.push(d)
      if (before !== undefined && !upNext.has(before)) failover.set(before, [...(failover.get(before) ?? []), d])
    } else if (before === self && after !== self) lost.push(d)
  }
  return { failover, gained, lost, leads }
}

/** Wires a node's events to the console; returns a function that unwires them. */
export function reportNode(node: MeshNode, out: ConsoleOut, clock: Clock): () => void {
  const healing = new HealingConsole(out, clock)
  let prev = node.topology.view()
  const self = node.nodeId
  const offs = [
    node.topology.events.on('view', ({ view }) => {
      const change = leadershipChange(prev, view, node.settings, self)
      prev = view
      const m = node.metrics()
      out.debug('view')(`view ${view.epoch}: ${view.members.length} members, ${m.peers.length} peers connected, leads ${m.domainsPrimary} domains, backs up ${m.domainsBackup}`)
      for (const [from, domains] of change.failover) {
        out.info(`failover: ${from} is down; this node took over ${domains.length} of its domains (${domainList(domains)}) and leads ${change.leads} now`)
      }
      const moved = change.gained.filter((d) => ![...change.failover.values()].some((ds) => ds.includes(d)))
      if (moved.length || change.lost.length) out.debug('view')(`leads ${change.leads} domains: +${moved.length} handed over to this node, -${change.lost.length} handed to others`)
    }),
    // Why a link dropped is what an operator needs after a pause, a crash or a network fault; a
    // peer that closed or left on purpose is no news.
    node.transport.on('peer-down', ({ peer, reason }) => {
      const clean = reason === 'closed' || reason === 'peer closed the link' || reason === 'left the view'
      ;(clean ? out.debug('link') : out.info)(`link to ${peer} dropped (${reason})`)
    }),
    node.transport.on('peer-up', ({ peer }) => out.debug('link')(`link to ${peer} open`)),
    node.events.on('healing', (p) => healing.progress(p)),
    node.state.events.on('snapshot-installed', ({ domain, from }) => out.info(`domain ${domain}: installed a snapshot from ${from} (this copy had diverged or was missing)`)),
    node.state.events.on('corrupt', ({ domain, error }) => out.info(`domain ${domain}: stored copy is damaged (${(error as Error).message}); rebuilding it from the other owners`)),
    node.state.events.on('replica-error', ({ domain, error }) => out.info(`domain ${domain}: ${(error as Error).message}`)),
  ]
  return () => offs.forEach((off) => off())
}

/**
 * The topology service's lines: the members of each view whose membership changed (in the form
 * `view N: a b(down) c`), a line saying what a member going down or leaving sets off, and the
 * cluster-wide healing: copies still to make (placed replicas that are up but hold no complete
 * copy yet), started, progress at most every `progressEveryMs`, finished. Views that only move
 * owners are debug lines (domainmesh:topology).
 */
export class TopologyConsole {
  private members = ''
  private status = new Map<NodeId, 'up' | 'down'>()
  private healing: { startedAt: number; most: number; lastLineAt: number } | undefined

  constructor(
    private readonly out: ConsoleOut,
    private readonly clock: Clock,
    private readonly settings: ClusterSettings,
    private readonly healDelayMs: number,
    private readonly progressEveryMs = 10_000,
  ) {}

  view(view: View): void {
    const members = view.members.map((m) => `${m.nodeId}${m.status === 'down' ? '(down)' : ''}`).join(' ')
    const next = new Map(view.members.map((m) => [m.nodeId, m.status] as const))
    for (const [id, status] of next) {
      if (status === 'down' && this.status.get(id) === 'up') this.out.info(`${id} is down: its domains fail over now; unless it returns within ${formatMs(this.healDelayMs)}, healing copies them to the others`)
    }
    for (const [id, status] of this.status) {
      if (!next.has(id)) this.out.info(`${id} left the view${status === 'down' ? ` (down for ${formatMs(this.healDelayMs)})` : ''}`)
    }
    this.status = next
    if (members !== this.members) this.out.info(`view ${view.epoch}: ${members || '(empty)'}`)
    else this.out.debug('topology')(`view ${view.epoch}: owners changed`)
    this.members = members
    this.healingProgress(view)
  }

  private healingProgress(view: View): void {
    let pending = 0
    for (let d = 0; d < this.settings.domainCount; d++) pending += domainRoles(view, this.settings, d).healing.length
    const now = this.clock.now()
    if (!this.healing) {
      if (pending === 0) return
      this.healing = { startedAt: now, most: pending, lastLineAt: now }
      return this.out.info(`cluster healing: ${copies(pending)} to make`)
    }
    const h = this.healing
    h.most = Math.max(h.most, pending)
    if (pending === 0) {
      this.out.info(`cluster healing finished: every domain has its copies (${h.most} ${h.most === 1 ? 'copy' : 'copies'} in ${formatMs(now - h.startedAt)})`)
      this.healing = undefined
    } else if (now - h.lastLineAt >= this.progressEveryMs) {
      h.lastLineAt = now
      this.out.info(`cluster healing: ${h.most - pending}/${h.most} domain copies made, ${formatMs(now - h.startedAt)} so far`)
    }
  }
}
