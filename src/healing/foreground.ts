/**
 * When this node's writes leave room for background work. Healing copies (healing-copy.ts) wait,
 * before each piece, until no write has been seen here for `quietMs`: a write is taken, applied
 * and acked in 1-2 ms, and a piece sent just after one is taken in by the target before the next
 * write comes. A copy never waits longer than `maxWaitMs` per piece, so it still moves on under a
 * steady stream of writes (at about one piece per `maxWaitMs` plus the piece gap). Waiting trades
 * a slightly longer copy for a lower write p99 during healing (docs/design.md, "Numbers behind
 * the code").
 */
import type { Clock } from '../util/clock.js'

export class Foreground {
  private last = -Infinity

  constructor(
    private readonly clock: Clock,
    /** 0: never wait. */
    private readonly quietMs: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Ms since the last write seen (Infinity before the first). */
  idleMs(): number {
    return this.clock.now() - this.last
  }

  /** A write (taken as primary, streamed to us as backup, or acked) was seen now. */
  touch(): void {
    this.last = this.clock.now()
  }

  /** Resolves once no write has been seen for `quietMs`, or after `maxWaitMs` in any case. */
  async quiet(): Promise<void> {
    if (this.quietMs <= 0) return
    const until = this.clock.now() + this.maxWaitMs
    for (;;) {
      const now = this.clock.now()
      const idle = now - this.last
      if (idle >= this.quietMs || now >= until) return
      const wait = Math.min(this.quietMs - idle, until - now)
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, Math.max(1, wait)))
    }
  }
}
