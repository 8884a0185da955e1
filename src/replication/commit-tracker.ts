/**
 * Writes and reads waiting for a domain's commit point. A write waits until its seq is committed;
 * a primary-read waits until the object it reads is. If the primary is demoted while writes wait,
 * they keep waiting: the new primary's appends carry its commit point, and a write counts as done
 * once that point passes its seq with the same epoch at that seq (it is then in the new
 * primary's log). If our log was replaced by a snapshot instead, its outcome cannot be known.
 *
 * Every write waiting here was applied to this replica and sent to the backups, so whatever ends
 * its wait short of a commit (a timeout, a newer epoch, a failed disk, closing) leaves its outcome
 * open: it fails with OutcomeUnknownError, the original error as its cause.
 */
import { OutcomeUnknownError, TimeoutError } from '../errors.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { WriteResult } from './replica.js'

export { OutcomeUnknownError }

interface Waiter {
  seq: number
  epoch: number
  resolve(r: WriteResult): void
  reject(e: unknown): void
  deadline: number
}

/**
 * Writes wait in seq order, all with the same timeout, so their deadlines are in order too: one
 * timer, for the oldest, serves them all (a timer per write was one more allocation that lived as
 * long as the write, on every primary).
 */
export class CommitTracker {
  private waiting: Waiter[] = []
  private readers: { seq: number; resolve(): void }[] = []
  private timer: TimerHandle | undefined

  constructor(
    private readonly domain: number,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    /** Where the replica stands, for the error of a write that timed out (a hang must say why). */
    private readonly standing: () => string = () => '',
  ) {}

  get pending(): number {
    return this.waiting.length
  }

  wait(seq: number, epoch: number): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ seq, epoch, resolve, reject, deadline: this.clock.now() + this.timeoutMs })
      this.arm()
    })
  }

  private arm(): void {
    if (this.timer || this.waiting.length === 0) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      const now = this.clock.now()
      while (this.waiting.length && this.waiting[0]!.deadline <= now) {
        const w = this.waiting.shift()!
        const standing = this.standing()
        const timeout = new TimeoutError(`write ${w.seq} to domain ${this.domain} waiting for backups${standing ? ` (${standing})` : ''}`, this.timeoutMs)
        w.reject(new OutcomeUnknownError(this.domain, w.seq, timeout))
      }
      this.arm()
    }, Math.max(0, this.waiting[0]!.deadline - this.clock.now()))
  }

  waitForRead(seq: number): Promise<void> {
    return new Promise((resolve) => this.readers.push({ seq, resolve }))
  }

  /** Resolves writes and reads up to `commit`; `stillOurs` checks the log still holds our write there. */
  commit(commit: number, stillOurs: (seq: number, epoch: number) => boolean, replicas: (seq: number) => number): void {
    while (this.waiting.length && this.waiting[0]!.seq <= commit) {
      const w = this.waiting.shift()!
      if (stillOurs(w.seq, w.epoch)) w.resolve({ seq: w.seq, replicas: replicas(w.seq) })
      else w.reject(new OutcomeUnknownError(this.domain, w.seq))
    }
    this.readers = this.readers.filter((r) => (r.seq <= commit ? (r.resolve(), false) : true))
  }

  /** Readers re-check the role after waking, and get NotPrimaryError if it changed. */
  wakeReaders(): void {
    for (const r of this.readers) r.resolve()
    this.readers = []
  }

  failAll(err: (seq: number) => unknown): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    const failed = this.waiting
    this.waiting = []
    for (const w of failed) {
      const e = err(w.seq)
      w.reject(e instanceof OutcomeUnknownError ? e : new OutcomeUnknownError(this.domain, w.seq, e))
    }
  }
}

/**
 * A demoted primary with writes still waiting asks the new primary every `intervalMs` where it
 * stands; the answer carries the commit point that settles those writes. Nobody else pays for
 * this: the poll runs only while `ask` finds something to ask about.
 */
export class CommitPoll {
  private timer: TimerHandle | undefined

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    /** Sends one question; returns false (and sends nothing) when there is nothing to ask. */
    private readonly ask: () => boolean,
  ) {}

  /** Polls from now on, until `ask` says there is nothing left to ask (no-op while polling). */
  start(): void {
    if (this.timer) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      if (this.ask()) this.start()
    }, this.intervalMs)
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}
