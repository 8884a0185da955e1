/**
 * Measures the round-trip time to each peer with a `ping` request to its store engine, every
 * `intervalMs` on the injected clock. Feeds `node.metrics().rttMs`.
 */
import type { NodeId } from '../ids.js'
import type { Clock, TimerHandle } from '../util/clock.js'

export class RttProbe {
  readonly rttMs = new Map<NodeId, number>()
  private timer: TimerHandle | undefined
  private stopped = false

  constructor(
    private readonly clock: Clock,
    private readonly peers: () => NodeId[],
    private readonly ping: (peer: NodeId) => Promise<unknown>,
    private readonly intervalMs: number,
  ) {}

  /** The first round runs after a second, so a fresh node reports figures early. */
  start(): void {
    this.schedule(Math.min(1000, this.intervalMs))
  }

  stop(): void {
    this.stopped = true
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(ms = this.intervalMs): void {
    if (this.stopped) return
    this.timer = this.clock.setTimeout(() => void this.round(), ms)
  }

  private async round(): Promise<void> {
    const current = new Set(this.peers())
    for (const p of this.rttMs.keys()) if (!current.has(p)) this.rttMs.delete(p)
    await Promise.all(
      [...current].map(async (p) => {
        const t0 = this.clock.now()
        try {
          await this.ping(p)
          this.rttMs.set(p, this.clock.now() - t0)
        } catch {
          this.rttMs.delete(p) // unreachable right now: no figure rather than a stale one
        }
      }),
    )
    this.schedule()
  }
}
