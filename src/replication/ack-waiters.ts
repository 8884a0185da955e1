/**
 * Waiting for one node's cumulative ack to reach a seq, re-sending every `intervalMs` until it
 * does (healing copies go to a node whose link may not be up yet, over a network that may drop).
 */
import { TimeoutError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { Clock } from '../util/clock.js'

export class AckWaiters {
  private readonly acked = new Map<NodeId, number>()
  private waiters: { node: NodeId; seq: number; resolve(): void }[] = []

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  get(node: NodeId): number {
    return this.acked.get(node) ?? 0
  }

  /** Records a cumulative ack; returns false if it told us nothing new. */
  ack(node: NodeId, upTo: number): boolean {
    if (upTo <= this.get(node)) return false
    this.acked.set(node, upTo)
    this.waiters = this.waiters.filter((w) => (w.node === node && w.seq <= upTo ? (w.resolve(), false) : true))
    return true
  }

  forget(node: NodeId): void {
    this.acked.delete(node)
  }

  /**
   * Counts `node` as holding nothing, not even seq 0, so that waiting for seq 0 sends: a snapshot
   * of an empty domain must still reach a target whose own copy may hold other data.
   */
  expectNothing(node: NodeId): void {
    this.acked.set(node, -1)
  }

  nodes(): NodeId[] {
    return [...this.acked.keys()]
  }

  /** Sends, then again every interval, until `node` acks `seq`; `stillValid` may stop it early. */
  async until(node: NodeId, seq: number, deadline: number, what: string, send: () => void, stillValid: () => void): Promise<void> {
    const started = this.clock.now()
    while (this.get(node) < seq) {
      stillValid()
      const now = this.clock.now()
      // The time it waited: the error said "after -1 ms" when it gave the time left.
      if (now >= deadline) throw new TimeoutError(what, now - started)
      send()
      await this.ackOrTimeout(node, seq, Math.min(this.intervalMs, deadline - now))
    }
  }

  private ackOrTimeout(node: NodeId, seq: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiter = { node, seq, resolve: () => (this.clock.clearTimeout(timer), resolve()) }
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve()
      }, ms)
      this.waiters.push(waiter)
    })
  }
}
