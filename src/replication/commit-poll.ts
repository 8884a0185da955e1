/**
 * A demoted primary with writes still waiting asks the new primary every `intervalMs` where it
 * stands; the answer carries the commit point that settles those writes. Nobody else pays for
 * this: the poll runs only while `ask` finds something to ask about.
 */
import type { Clock, TimerHandle } from '../util/clock.js'

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
