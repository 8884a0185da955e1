/**
 * One node process's view of the simulation's shared FakeClock. It can be paused, as a process
 * under SIGSTOP: its timers that fall due meanwhile wait, and run in their order once it resumes
 * (time itself goes on, as the wall clock does). It can also die with its process: then none of
 * its timers ever run again, whatever the node's code did or did not clear.
 */
import type { Clock, FakeClock, TimerHandle } from '../../src/util/clock.js'

export class ProcessClock implements Clock {
  private paused = false
  private dead = false
  private nextId = 1
  /** Armed on the shared clock: our id → its handle there. */
  private readonly armed = new Map<number, TimerHandle>()
  /** Fell due while paused (or work held for the resume), in order. */
  private held: { id: number; fn: () => void }[] = []

  constructor(private readonly base: FakeClock) {}

  now(): number {
    return this.base.now()
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++
    if (this.dead) return { id }
    this.armed.set(
      id,
      this.base.setTimeout(() => {
        this.armed.delete(id)
        this.run(id, fn)
      }, ms),
    )
    return { id }
  }

  clearTimeout(handle: TimerHandle): void {
    const h = this.armed.get(handle.id)
    if (h) this.base.clearTimeout(h)
    this.armed.delete(handle.id)
    this.held = this.held.filter((t) => t.id !== handle.id)
  }

  get isPaused(): boolean {
    return this.paused
  }

  /** Runs `fn` now, or at the resume if the process is stopped; never if it died. */
  gate(fn: () => void): void {
    this.run(0, fn)
  }

  pause(): void {
    this.paused = true
  }

  /**
   * The process goes on. What fell due while it was stopped runs first, in order, each as a timer
   * of the shared clock due now (so each one's microtasks drain before the next, as timers do).
   */
  resume(): void {
    if (!this.paused) return
    this.paused = false
    const held = this.held
    this.held = []
    for (const t of held) {
      if (t.id === 0) this.gate(t.fn)
      else this.armed.set(t.id, this.base.setTimeout(() => (this.armed.delete(t.id), this.run(t.id, t.fn)), 0))
    }
  }

  /** The process died: nothing of it runs again. */
  kill(): void {
    this.dead = true
    this.paused = false
    for (const h of this.armed.values()) this.base.clearTimeout(h)
    this.armed.clear()
    this.held = []
  }

  private run(id: number, fn: () => void): void {
    if (this.dead) return
    if (this.paused) this.held.push({ id, fn })
    else fn()
  }
}
