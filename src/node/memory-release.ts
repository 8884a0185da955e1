/**
 * Gives the C heap's free pages back to the system once a Node peer is quiet. glibc's malloc
 * returns memory only from the top of its heap; pages freed below a block still in use stay
 * resident until `malloc_trim` walks the free lists. A burst (the healing benchmark's fill of
 * 100,000 objects) leaves the heap full of such holes: every frame, message and file write is a
 * short-lived ArrayBuffer, while the arenas' 16 KiB chunks (arena.ts) stay. Measured on a peer at
 * rest after the healing: `malloc_trim(0)`, called from gdb, took resident memory from 120.7 to
 * 108.6 MB ([heap] 29.8 -> 21.4 MB), a third of the peer's growth for its 100,000 objects.
 *
 * Ruby calls malloc_trim after its full collections for the same reason; Cube Store after its
 * bursts. Here the trim follows a full V8 collection (that is when the ArrayBuffers of a burst are
 * freed, on V8's sweeper thread, shortly after) and only on a node that has seen no write for
 * `quietMs`: under load the holes are reused at once, and a trim would only make the next burst
 * fault its pages in again while the arena lock keeps the WebRTC threads waiting.
 *
 * `malloc_trim` comes from the C library through koffi (an FFI with prebuilt binaries, an
 * optional dependency): off Linux, on musl, or without koffi there is nothing to trim with.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks'
import type { Clock, TimerHandle } from '../util/clock.js'

/** `malloc_trim(0)`: true if it gave memory back. */
export type Trim = () => boolean

export interface MemoryReleaseOptions {
  clock: Clock
  trim: Trim
  /** Ms since this node last saw a write. */
  idleMs: () => number
  /** Trim only on a node idle this long (default 5 s). */
  quietMs?: number
  /** After a full collection, wait this long for V8's sweeper to free the ArrayBuffers (default 1 s). */
  delayMs?: number
  onError: (err: unknown) => void
}

export class MemoryRelease {
  private timer: TimerHandle | undefined
  private stopped = false
  /** Trims run, and those that gave memory back. */
  readonly stats = { trims: 0, released: 0 }
  /** When the last trim ran (clock ms). */
  private lastTrimAt = -Infinity

  constructor(private readonly opts: MemoryReleaseOptions) {}

  /** A full collection just ended. */
  afterFullCollection(): void {
    if (this.stopped || this.timer) return
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined
      if (this.stopped || this.opts.idleMs() < (this.opts.quietMs ?? 5000)) return
      try {
        this.lastTrimAt = this.opts.clock.now()
        this.stats.trims++
        if (this.opts.trim()) this.stats.released++
      } catch (err) {
        this.opts.onError(err)
      }
    }, this.opts.delayMs ?? 1000)
  }

  /**
   * Whether a trim ran since the node's last write: what it holds now is what an operator sees on
   * a node at rest (the benchmark waits for it).
   */
  trimmedSinceLastWrite(): boolean {
    return this.lastTrimAt > this.opts.clock.now() - this.opts.idleMs()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) this.opts.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * glibc's `malloc_trim(0)` through koffi, or why there is none (not Linux, koffi not installed, or
 * a C library without it, such as musl).
 */
export async function loadMallocTrim(): Promise<Trim | { unavailable: string }> {
  if (process.platform !== 'linux') return { unavailable: `malloc_trim is glibc's, and this is ${process.platform}` }
  let koffi
  try {
    koffi = (await import('koffi')).default
  } catch (err) {
    return { unavailable: `the optional dependency koffi did not load (${(err as Error).message})` }
  }
  try {
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number
    return () => trim(0) === 1
  } catch (err) {
    return { unavailable: `no malloc_trim in this C library (${(err as Error).message})` }
  }
}

/**
 * Calls `fn` after every full (mark-compact) collection of this process, through perf_hooks'
 * `gc` entries. Returns the function that stops it.
 */
export function onFullCollections(fn: () => void): () => void {
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) fn()
  })
  observer.observe({ entryTypes: ['gc'] })
  return () => observer.disconnect()
}
