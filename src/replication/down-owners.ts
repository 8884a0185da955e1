/**
 * A primary's owners that are down. Every listed owner must hold every acknowledged write: after
 * a full-cluster restart any owner may be chosen to lead, and it must not lack a write a client
 * was told is safe (Kafka shrinks its ISR in the controller before the high watermark passes a
 * missing replica, for the same reason). So while a down owner is listed, nothing new commits:
 * the owner is reported as lagging (the topology service drops it and saves that before its
 * next view), and commits go on once a view no longer lists it. The report is repeated every
 * `intervalMs` while commits wait, in case it was lost with a topology link.
 */
import type { NodeId } from '../ids.js'
import type { Clock } from '../util/clock.js'

export class DownOwners {
  private down: readonly NodeId[] = []
  private lastReport = -Infinity

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly report: (node: NodeId) => void,
  ) {}

  /** The view's down owners; whether the list changed. */
  set(down: readonly NodeId[]): boolean {
    const changed = down.length !== this.down.length || down.some((n) => !this.down.includes(n))
    this.down = down
    if (changed) this.lastReport = -Infinity
    return changed
  }

  list(): readonly NodeId[] {
    return this.down
  }

  /** Whether a commit must wait for the view that drops the down owners (they are reported then). */
  holdCommit(): boolean {
    if (this.down.length === 0) return false
    this.reportDue()
    return true
  }

  /**
   * Reports the down owners, at most once per `intervalMs`: a primary read that one of them did
   * not answer waits for the view that drops them, as a commit does (lead-check.ts).
   */
  reportDue(): void {
    const now = this.clock.now()
    if (now - this.lastReport < this.intervalMs) return
    this.lastReport = now
    for (const n of this.down) this.report(n)
  }
}
