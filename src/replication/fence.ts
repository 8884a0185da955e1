/**
 * What a primary knows of a newer primary: the highest epoch a nack (or a sync fetch) showed it,
 * and the grace its pending writes get. During a planned hand-off the view that demotes the old
 * primary is on its way and the new primary took those writes over in its sync, so they settle
 * through its commit point once the old one follows it. A primary cut off from the topology
 * service never gets that view: when the grace ends, `expire` fails its pending writes.
 */
import type { Clock, TimerHandle } from '../util/clock.js'

export class Fence {
  /** The newest epoch another primary is known to serve under (0: none). */
  private by = 0
  private timer: TimerHandle | undefined

  constructor(
    private readonly clock: Clock,
    private readonly graceMs: number,
    /** Called when the grace ends, with the newest fencing epoch; the caller checks it is still fenced. */
    private readonly expire: (by: number) => void,
  ) {}

  /** Fenced off at `epoch`: a newer primary exists, so nothing may be acked or taken here. */
  holds(epoch: number): boolean {
    return this.by > epoch
  }

  /** A newer primary serves under `epoch`; `pending` writes start the grace. */
  raise(epoch: number, pending: boolean): void {
    this.by = Math.max(this.by, epoch)
    if (this.timer || !pending) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      this.expire(this.by)
    }, this.graceMs)
  }

  /** A view at `epoch` reached us: once it is as new as the fence, the grace is over. */
  settle(epoch: number): void {
    if (epoch >= this.by) this.stop()
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}
