/**
 * Time is injected. The core never calls setTimeout or Date.now itself, so a simulation can run
 * hours of timeouts, heartbeats and heal delays in milliseconds, in the same order every time.
 */
export interface TimerHandle {
  readonly id: number
}

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
  /**
   * Runs `fn` once the work already queued is done: after the current I/O phase with real time
   * (so everything the incoming frames of one phase produce leaves in one frame per peer), and as
   * a microtask with fake time (so simulations stay ordered). Default: a microtask.
   */
  defer?(fn: () => void): void
  /**
   * Ms on a clock that never jumps (not the wall clock), for measuring how long something has
   * waited; absent: `now()`. The real clock's is `performance.now()`.
   */
  monotonic?(): number
}

export class RealClock implements Clock {
  private readonly timers = new Map<number, ReturnType<typeof globalThis.setTimeout>>()
  private nextId = 1
  now(): number {
    return Date.now()
  }
  monotonic(): number {
    return performance.now()
  }
  defer(fn: () => void): void {
    // setImmediate where there is one (Node); browsers batch per task with a resolved promise.
    if (typeof globalThis.setImmediate === 'function') globalThis.setImmediate(fn)
    else queueMicrotask(fn)
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++
    const t = globalThis.setTimeout(() => {
      this.timers.delete(id)
      fn()
    }, ms)
    this.timers.set(id, t)
    return { id }
  }
  clearTimeout(handle: TimerHandle): void {
    const t = this.timers.get(handle.id)
    if (t !== undefined) globalThis.clearTimeout(t)
    this.timers.delete(handle.id)
  }
  /** Timers still armed; a cleanly closed node leaves none. */
  pending(): number {
    return this.timers.size
  }
}

interface FakeTimer {
  id: number
  at: number
  fn: () => void
}

/**
 * A manual clock. `advance` fires due timers in (time, creation) order and lets the microtask
 * queue drain after each one, so promise chains started by a timer finish before the next fires.
 */
export class FakeClock implements Clock {
  private time: number
  private timers: FakeTimer[] = []
  private nextId = 1
  constructor(start = 0) {
    this.time = start
  }
  now(): number {
    return this.time
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { id: this.nextId++, at: this.time + Math.max(0, ms), fn }
    this.timers.push(t)
    return { id: t.id }
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id)
  }
  pending(): number {
    return this.timers.length
  }
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms
    await flushMicrotasks()
    for (;;) {
      const next = this.nextDue(end)
      if (!next) break
      this.timers = this.timers.filter((t) => t !== next)
      this.time = next.at
      next.fn()
      await flushMicrotasks()
    }
    this.time = end
    await flushMicrotasks()
  }
  private nextDue(end: number): FakeTimer | undefined {
    let best: FakeTimer | undefined
    for (const t of this.timers) {
      if (t.at <= end && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t
    }
    return best
  }
}

/** Lets queued promise reactions run; enough rounds for the short chains the core builds. */
export async function flushMicrotasks(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}

/** Resolves after `ms` on the given clock (fake time in simulations). */
export const sleep = (clock: Clock, ms: number): Promise<void> => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))

const resolved = Promise.resolve()

/**
 * Runs `fn` as a microtask, as `queueMicrotask` does, for the hot paths (a write's frame, a
 * primary's append). Node's `queueMicrotask` builds an AsyncResource for every call (async_hooks
 * bookkeeping and a destroy hook); in a profiled write burst that was 2-3 % of the writer's CPU.
 * A reaction to a settled promise goes into the same queue in the same order without it. A throw
 * from `fn` surfaces as an unhandled rejection instead of an uncaught exception.
 */
export const microtask = (fn: () => void): void => void resolved.then(fn)

/** Runs `fn` after the work already queued (I/O callbacks, with real time): see `Clock.defer`. */
export const defer = (clock: Clock, fn: () => void): void => (clock.defer ? clock.defer(fn) : queueMicrotask(fn))

/** A promise that resolves once the work already queued has run. */
export const yieldTo = (clock: Clock): Promise<void> => new Promise<void>((resolve) => defer(clock, resolve))
