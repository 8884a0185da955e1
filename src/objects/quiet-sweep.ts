/**
 * Cools the domains nobody writes to. Every `intervalMs` it looks at each domain's last seq; one
 * that did not move since the previous look keeps its log and objects encoded (DomainState.cool),
 * so a node at rest holds its data as bytes, not as JS objects (without it, a peer at rest kept
 * thousands of decoded entries and objects: docs/design.md, "Numbers behind the code"). Domains are
 * cooled one per event-loop turn, so a look never holds the loop for more than one domain's encode.
 */
import { yieldTo, type Clock, type TimerHandle } from '../util/clock.js'

/** A domain's data as the sweep sees it: a Replica (which cuts its log first) or a bare DomainState. */
export interface Coolable {
  readonly domain: number
  readonly lastSeq: number
  cool(): void
}

export class QuietSweep {
  private timer: TimerHandle | undefined
  /** Each domain's last seq at the previous look, and whether it was cooled at that seq. */
  private readonly seen = new Map<number, { seq: number; cooled: boolean }>()
  private stopped = false

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly states: () => Iterable<Coolable>,
    private readonly onError: (domain: number, err: unknown) => void,
    /** After a look that cooled some domain: the node is going quiet (codec.ts lets go of its buffer). */
    private readonly afterCooling: () => void = () => {},
  ) {}

  start(): void {
    if (this.intervalMs > 0 && !this.stopped) this.arm()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      void this.look().finally(() => {
        if (!this.stopped) this.arm()
      })
    }, this.intervalMs)
  }

  private async look(): Promise<void> {
    const quiet: Coolable[] = []
    for (const s of this.states()) {
      const was = this.seen.get(s.domain)
      if (was?.seq === s.lastSeq && !was.cooled) quiet.push(s)
      else if (was?.seq !== s.lastSeq) this.seen.set(s.domain, { seq: s.lastSeq, cooled: false })
    }
    let cooled = 0
    for (const s of quiet) {
      if (this.stopped) return
      // Written since the list was made: it is not quiet any more.
      if (this.seen.get(s.domain)?.seq !== s.lastSeq) continue
      try {
        s.cool()
        cooled++
        this.seen.set(s.domain, { seq: s.lastSeq, cooled: true })
      } catch (err) {
        this.onError(s.domain, err)
      }
      await yieldTo(this.clock)
    }
    if (cooled > 0 && !this.stopped) this.afterCooling()
  }
}
