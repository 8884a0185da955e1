/**
 * A fixed-bucket histogram (Prometheus conventions: cumulative `le` buckets, a sum and a count),
 * cheap enough for every write: one comparison loop over a dozen bounds and three additions.
 */
export interface HistogramSnapshot {
  /** Upper bounds, ascending, and how many observations were at most each (cumulative). */
  buckets: [le: number, count: number][]
  sum: number
  count: number
}

export class Histogram {
  private readonly counts: number[]
  private sum = 0
  private count = 0

  constructor(private readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0)
  }

  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) {
        this.counts[i]!++
        return
      }
    }
  }

  snapshot(): HistogramSnapshot {
    let cumulative = 0
    return { buckets: this.bounds.map((le, i) => [le, (cumulative += this.counts[i]!)]), sum: this.sum, count: this.count }
  }
}

/** Write latency bounds in ms (the real clock counts whole ms): a commit on one machine up to a timed-out write. */
export const WRITE_LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 3000]
