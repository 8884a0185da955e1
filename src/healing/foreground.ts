/**
 * When this node's writes leave room for background work. Healing copies (healing-copy.ts) wait,
 * before each piece, until no write has been seen here for `quietMs`: a write is taken, applied
 * and acked in 1-2 ms, and a piece sent just after one is taken in by the target before the next
 * write comes. A copy never waits longer than `maxWaitMs` per piece, so it still moves on under a
 * steady stream of writes (at about one piece per `maxWaitMs` plus the piece gap).
 *
 * Measured in the healing benchmark (paced writes to the domains that need no copy, one every
 * 5 ms; four traced heal-only runs each, alternating): p99 during the healing 21.0 / 12.1 / 14.6 /
 * 25.0 ms without waiting, 13.1 / 14.6 / 13.0 / 14.9 ms with `quietMs` 3; the copy took 3.0 → 3.8 s.
 * Untraced full runs since: 11.1 and 13.6 ms, against 17.8 before (bench/README.md).
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
