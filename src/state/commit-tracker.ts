/**
 * Writes and reads waiting for a domain's commit point. A write waits until its seq is committed;
 * a primary-read waits until the object it reads is. If the primary is demoted while writes wait,
 * they keep waiting: the new primary's appends carry its commit point, and a write counts as done
 * once that point passes its seq with the same epoch at that seq (it is then in the new
 * primary's log). If our log was replaced by a snapshot instead, its outcome cannot be known.
 */
import { DomainMeshError, TimeoutError } from '../errors.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { WriteResult } from './replica.js'

export class OutcomeUnknownError extends DomainMeshError {
  constructor(domain: number, seq: number) {
    super('OUTCOME_UNKNOWN', `domain ${domain}: the primary changed before write ${seq} was confirmed; it may or may not have been applied`, { domain, seq })
  }
}

interface Waiter {
  seq: number
  epoch: number
  resolve(r: WriteResult): void
  reject(e: unknown): void
  timer: TimerHandle
}

export class CommitTracker {
  private waiting: Waiter[] = []
  private readers: { seq: number; resolve(): void }[] = []

  constructor(
    private readonly domain: number,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  get pending(): number {
    return this.waiting.length
  }

  wait(seq: number, epoch: number): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w.seq !== seq)
        reject(new TimeoutError(`write ${seq} to domain ${this.domain} waiting for backups`, this.timeoutMs))
      }, this.timeoutMs)
      this.waiting.push({ seq, epoch, resolve, reject, timer })
    })
  }

  waitForRead(seq: number): Promise<void> {
    return new Promise((resolve) => this.readers.push({ seq, resolve }))
  }

  /** Resolves writes and reads up to `commit`; `stillOurs` checks the log still holds our write there. */
  commit(commit: number, stillOurs: (seq: number, epoch: number) => boolean, replicas: (seq: number) => number): void {
    while (this.waiting.length && this.waiting[0]!.seq <= commit) {
      const w = this.waiting.shift()!
      this.clock.clearTimeout(w.timer)
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
    for (const w of this.waiting) {
      this.clock.clearTimeout(w.timer)
      w.reject(err(w.seq))
    }
    this.waiting = []
  }
}
