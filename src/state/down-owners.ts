/**
 * A primary's owners that are down. The first write committed without one makes its copy stale:
 * it is reported then (the topology service stops counting it as an owner, and it is healed
 * later), once, until it comes back up or leaves the view's down list.
 */
import type { NodeId } from '../ids.js'

export class DownOwners {
  private down: readonly NodeId[] = []
  private readonly reported = new Set<NodeId>()

  constructor(private readonly report: (node: NodeId) => void) {}

  /** The view's down owners; whether the list changed. */
  set(down: readonly NodeId[]): boolean {
    const changed = down.length !== this.down.length || down.some((n) => !this.down.includes(n))
    this.down = down
    for (const n of [...this.reported]) if (!down.includes(n)) this.reported.delete(n)
    return changed
  }

  /** A write committed without them. */
  committed(): void {
    for (const n of this.down) {
      if (this.reported.has(n)) continue
      this.reported.add(n)
      this.report(n)
    }
  }
}
