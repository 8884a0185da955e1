/**
 * When the requests in flight time out, with one clock timer for all of them.
 *
 * A timer per request (the runtime's timer object, its closures, the clock's entry) was a few
 * hundred bytes for every request in flight. A writer that issues a burst without waiting has
 * thousands in flight, and every young-generation collection copied them all: scavenges were the
 * largest single cost of a fresh burst's writer. Requests with the same timeout expire in the
 * order they were sent, so each timeout keeps a queue of ids in that order, and the one timer is
 * armed for the earliest deadline at the head of any queue. Answered requests are skipped at the
 * head as new ones come in, so a queue holds about what is really in flight.
 */
import type { Clock, TimerHandle } from '../util/clock.js'

interface Queue {
  ids: number[]
  deadlines: number[]
  head: number
}

/** Ids at the head of a queue that may pile up before the queue is copied down. */
const COMPACT_AT = 4096

export class Deadlines {
  private readonly queues = new Map<number, Queue>()
  private timer: TimerHandle | undefined
  private timerAt = Infinity

  /**
   * @param live whether a request is still waiting (not answered, failed or expired)
   * @param expire called once for each live request whose deadline has passed
   */
  constructor(
    private readonly clock: Clock,
    private readonly live: (id: number) => boolean,
    private readonly expire: (id: number) => void,
  ) {}

  /** Request `id` expires `timeoutMs` from now unless it is no longer live by then. */
  add(id: number, timeoutMs: number): void {
    const deadline = this.now() + timeoutMs
    let q = this.queues.get(timeoutMs)
    if (!q) this.queues.set(timeoutMs, (q = { ids: [], deadlines: [], head: 0 }))
    this.skipAnswered(q)
    q.ids.push(id)
    q.deadlines.push(deadline)
    if (deadline < this.timerAt) this.arm(deadline)
  }

  /** Ids queued (answered ones not yet skipped included): what the queues hold. */
  get size(): number {
    let n = 0
    for (const q of this.queues.values()) n += q.ids.length - q.head
    return n
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    this.queues.clear()
  }

  /** Monotonic where the clock has one: a wall clock set forward would expire every request in flight at once. */
  private now(): number {
    return this.clock.monotonic?.() ?? this.clock.now()
  }

  private skipAnswered(q: Queue): void {
    while (q.head < q.ids.length && !this.live(q.ids[q.head]!)) q.head++
    if (q.head >= COMPACT_AT && q.head * 2 >= q.ids.length) {
      q.ids = q.ids.slice(q.head)
      q.deadlines = q.deadlines.slice(q.head)
      q.head = 0
    }
  }

  private arm(at: number): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timerAt = at
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.now()))
  }

  private fire(): void {
    this.timer = undefined
    this.timerAt = Infinity
    const now = this.now()
    const due: number[] = []
    let next = Infinity
    for (const [timeoutMs, q] of this.queues) {
      while (q.head < q.ids.length) {
        const id = q.ids[q.head]!
        // Not yet due, unless the deadline is further off than the timeout itself: the wall
        // clock went back (a Node timer, which this replaced, runs on a monotonic one).
        const left = q.deadlines[q.head]! - now
        if (this.live(id) && left > 0 && left <= timeoutMs) break
        if (this.live(id)) due.push(id)
        q.head++
      }
      if (q.head === q.ids.length) this.queues.delete(timeoutMs)
      else next = Math.min(next, q.deadlines[q.head]!)
    }
    if (next < Infinity) this.arm(next)
    // After the queues are consistent: an expiry may send (and add) a request of its own.
    for (const id of due) this.expire(id)
  }
}
