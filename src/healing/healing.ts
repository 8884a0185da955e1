/**
 * Self-healing, one domain at a time. Each primary queues a copy task for every healing target
 * of the domains it leads; tasks run strictly one after another, so at most one domain on this node
 * is ever locked, and only for its own delta. Between two copies the queue pauses (`pauseRatio`),
 * so that healing does not crowd out the writes of the domains that need no copy.
 *
 * A task whose target this node has no link to yet (a member that just joined or came back) waits
 * without holding the queue: copies to the targets that can be reached go first, and the waiting
 * ones start as soon as the link opens (`wake`).
 */
import type { NodeId } from '../ids.js'
import { sleep, type Clock, type TimerHandle } from '../util/clock.js'
import { copyDomain, type PositionOf } from './healing-copy.js'
import type { CopyReport, DomainReplica } from '../replication/replica.js'

export interface HealingProgress {
  domainsDone: number
  domainsTotal: number
  bytes: number
  inProgress: boolean
  /** The longest time writes to one domain were held back in this round. */
  maxLockMs: number
  /** When this round's first copy was planned (the node's clock): a console or page tells its rate and duration. */
  startedAt: number
}

/** One copy finished, failed or dropped: the round so far, and for a finished copy where its time went. */
export type HealingStep = HealingProgress & {
  domain: number
  target: NodeId
  error?: unknown
  copy?: CopyReport
  /** How long the task waited in the queue before its copy started (ms). */
  queuedMs: number
  /** The pause that follows it (ms). */
  pauseMs: number
}

export interface HealingHooks {
  replica(domain: number): DomainReplica | undefined
  /** Still a healing target of ours under the current view? */
  wanted(domain: number, target: NodeId): boolean
  progress(p: HealingStep): void
  copied(domain: number, target: NodeId, report: CopyReport): void
  positionOf: PositionOf
  /** Resolves when this node's writes leave room for the next piece of a copy (foreground.ts). */
  quiet?: () => Promise<void>
  /** Whether this node has a link to `node` now (default: always). */
  reachable?: (node: NodeId) => boolean
  /**
   * Whether this node is ephemeral (a tab) and no other member that is up holds the domain, or
   * none that is durable (its commits wait for one): its copy goes before the others and without
   * the pause after it, since until it lands one closing tab takes the only copy of what was
   * acknowledged there, or the domain's writes wait. (A durable node alone with a domain still
   * has it on disk: its copies keep the pause that leaves room for writes.)
   */
  urgent?: (domain: number) => boolean
}

interface Task {
  domain: number
  target: NodeId
  plannedAt: number
}

export class HealingQueue {
  private queue: Task[] = []
  private running = false
  private round: HealingProgress = { domainsDone: 0, domainsTotal: 0, bytes: 0, inProgress: false, maxLockMs: 0, startedAt: 0 }
  /** The task being copied now: a view that arrives meanwhile must not plan it a second time. */
  private current: Task | undefined
  /** Resolves the wait of a queue whose every task's target is unreachable. */
  private waking: (() => void) | undefined

  constructor(
    private readonly hooks: HealingHooks,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** Pause after each copy, as a multiple of the time it took once the target had answered (0: copy back to back). */
    private readonly pauseRatio = 1,
    /** Between the pieces of one copy (healing-copy.ts). */
    private readonly pieceGapMs = 0,
  ) {}

  /** Drops every planned copy (the node is going away). */
  stop(): void {
    this.queue = []
    this.wake()
  }

  /**
   * Something that may let a waiting task start has happened: a link opened, or a new view
   * (which may have dropped a target that was never reached).
   */
  wake(): void {
    this.waking?.()
  }

  progress(): HealingProgress {
    return { ...this.round }
  }

  plan(domain: number, target: NodeId): void {
    const same = (t: Task | undefined) => t?.domain === domain && t.target === target
    if (same(this.current) || this.queue.some(same)) return
    if (!this.round.inProgress) this.round = { domainsDone: 0, domainsTotal: 0, bytes: 0, inProgress: true, maxLockMs: 0, startedAt: this.clock.now() }
    this.queue.push({ domain, target, plannedAt: this.clock.now() })
    this.round.domainsTotal++
    if (this.running) this.wake()
    else void this.run()
  }

  /**
   * The next task to copy: tasks no longer wanted (the domain is not ours to lead, or its target
   * left) are dropped on the way, and a task whose target cannot be reached yet stays queued.
   */
  private next(): Task | undefined {
    let pick = -1
    for (let i = 0; i < this.queue.length; ) {
      const t = this.queue[i]!
      if (this.hooks.replica(t.domain)?.role !== 'primary' || !this.hooks.wanted(t.domain, t.target)) {
        this.queue.splice(i, 1)
        this.finish(t, 0)
        continue
      }
      if (this.hooks.reachable?.(t.target) ?? true) {
        if (this.hooks.urgent?.(t.domain)) {
          pick = i
          break
        }
        if (pick < 0) pick = i
      }
      i++
    }
    return pick < 0 ? undefined : this.queue.splice(pick, 1)[0]
  }

  /** Waits for `wake`, or at most a few resend intervals (a missed wake must not stall healing). */
  private async waitForWake(): Promise<void> {
    let timer: TimerHandle | undefined
    await new Promise<void>((resolve) => {
      this.waking = resolve
      timer = this.clock.setTimeout(resolve, 5 * this.intervalMs)
    })
    this.waking = undefined
    if (timer) this.clock.clearTimeout(timer)
  }

  private finish(task: Task, pauseMs: number, startedAt = this.clock.now(), copy?: CopyReport, error?: unknown): void {
    this.round.domainsDone++
    if (this.queue.length === 0) this.round.inProgress = false
    this.hooks.progress({ ...this.round, domain: task.domain, target: task.target, queuedMs: startedAt - task.plannedAt, pauseMs, ...(copy ? { copy } : {}), ...(error !== undefined ? { error } : {}) })
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0) {
        const task = this.next()
        if (!task) {
          if (this.queue.length > 0) await this.waitForWake()
          continue
        }
        const { domain, target } = task
        this.current = task
        const urgent = this.hooks.urgent?.(domain) ?? false
        const replica = this.hooks.replica(domain)!
        const startedAt = this.clock.now()
        let error: unknown
        let report: CopyReport | undefined
        try {
          report = await copyDomain(replica, target, {
            clock: this.clock,
            intervalMs: this.intervalMs,
            timeoutMs: this.timeoutMs,
            pieceGapMs: this.pieceGapMs,
            ...(this.hooks.quiet ? { quiet: this.hooks.quiet } : {}),
            positionOf: this.hooks.positionOf,
            wanted: () => this.hooks.wanted(domain, target),
          })
          this.round.bytes += report.bytes
          this.round.maxLockMs = Math.max(this.round.maxLockMs, report.lockMs)
          this.hooks.copied(domain, target, report)
        } catch (err) {
          error = err
          this.current = undefined
          // Still wanted (the target is up and still a target)? Try again after the others.
          if (this.hooks.wanted(domain, target)) {
            this.queue.push({ domain, target, plannedAt: this.clock.now() })
            this.round.domainsTotal++
          }
        }
        // Copying blocks this node's event loop (and the target's) in chunks of several ms; a pause
        // as long as the copy worked leaves writes to other domains half of the time, for a longer
        // healing (docs/design.md, "Numbers behind the code"). With the pieces of a copy apart
        // (healing-copy.ts) this pause matters less.
        // The time a copy waited for the target to say where its log ends (its link still
        // opening, its first answer lost) is no work and left room for writes already: pausing as
        // long again made every copy to a member back from a restart twice as slow. The wait for
        // acks still counts: with everything sent, it is mostly the target decoding, applying and
        // persisting, and the writes of other domains need room on the target too.
        this.current = undefined
        const worked = report ? Math.max(0, report.tookMs - report.positionMs) : 0
        const pause = error === undefined && !urgent ? this.pauseRatio * worked : 0
        this.finish(task, pause, startedAt, report, error)
        if (this.queue.length > 0 && pause > 0) await sleep(this.clock, pause)
      }
    } finally {
      this.running = false
      this.current = undefined
      this.round.inProgress = false
    }
  }
}
