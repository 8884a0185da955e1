/**
 * Gives the C heap's free pages back to the system once a Node peer is quiet. glibc's malloc
 * returns memory only from the top of its heap; pages freed below a block still in use stay
 * resident until `malloc_trim` walks the free lists. A burst (the healing benchmark's fill of
 * 100,000 objects) leaves the heap full of such holes: every frame, message and file write is a
 * short-lived ArrayBuffer, while the arenas' 16 KiB chunks (arena.ts) stay. Measured on a peer at
 * rest after the healing: `malloc_trim(0)`, called from gdb, took resident memory from 120.7 to
 * 108.6 MB ([heap] 29.8 -> 21.4 MB). A fresh peer gives back 6 MB too, so the growth per object
 * that the benchmark reports moves less than the resident size an operator sees.
 *
 * Ruby calls malloc_trim after its full collections for the same reason; Cube Store after its
 * bursts. Here the trim runs when a node has seen no write for `quietMs`, and again after each
 * full V8 collection while it stays quiet (that is when the ArrayBuffers of a burst are freed, on
 * V8's sweeper thread, shortly after). Never under load: the holes are reused at once there, and
 * a trim would only make the next burst fault its pages in again while the allocator's lock
 * keeps the WebRTC threads waiting.
 *
 * `malloc_trim` comes from the C library through koffi (an FFI with prebuilt binaries, an
 * optional peer dependency, so that browser apps do not install it): off Linux, on musl, or without koffi there is nothing to trim with.
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
  /** Starts calling `fn` after every full collection; returns how to stop (`onFullCollections`). */
  watchCollections: (fn: () => void) => () => void
  /** Trim only on a node idle this long; also how often it looks (default 5 s). */
  quietMs?: number
  /** After a full collection, wait this long for V8's sweeper to free the ArrayBuffers (default 1 s). */
  delayMs?: number
  onError: (err: unknown) => void
}

/**
 * Collections are watched only while the node is quiet: a `gc` observer makes Node build an entry
 * for every collection, scavenges included, which cost 3-4 % of an allocation-heavy loop here, and
 * under load there is nothing to trim anyway. Every `quietMs` it looks: a node that went quiet is
 * trimmed at once (the burst's buffers freed so far) and watched from then on, for the full
 * collections with which V8 gives back the rest; a write stops the watching.
 */
export class MemoryRelease {
  private looking: TimerHandle | undefined
  private trimming: TimerHandle | undefined
  private unwatch: (() => void) | undefined
  private stopped = false
  /** Trims run, and those that gave memory back. */
  readonly stats = { trims: 0, released: 0 }
  /** When the last trim ran (clock ms), and the last one that followed a full collection. */
  private lastTrimAt = -Infinity
  private lastCollectedTrimAt = -Infinity

  constructor(private readonly opts: MemoryReleaseOptions) {}

  private get quietMs(): number {
    return this.opts.quietMs ?? 5000
  }

  start(): void {
    if (this.stopped || this.looking) return
    this.looking = this.opts.clock.setTimeout(() => {
      this.looking = undefined
      this.look()
      this.start()
    }, this.quietMs)
  }

  /** A full collection just ended. */
  afterFullCollection(): void {
    if (this.stopped || this.trimming) return
    this.trimming = this.opts.clock.setTimeout(() => {
      this.trimming = undefined
      if (this.stopped || !this.quiet()) return
      this.trimNow()
      this.lastCollectedTrimAt = this.lastTrimAt
    }, this.opts.delayMs ?? 1000)
  }

  /**
   * Whether, since the node's last write, V8 ran a full collection and the trim followed it: what
   * the node holds then is what an operator sees on a node at rest (the benchmark waits for it).
   * The trim as the node goes quiet does not count: the burst's buffers may not be collected yet.
   */
  trimmedSinceLastWrite(): boolean {
    return this.lastCollectedTrimAt > this.writtenAt()
  }

  private writtenAt(): number {
    return this.opts.clock.now() - this.opts.idleMs()
  }

  stop(): void {
    this.stopped = true
    for (const t of [this.looking, this.trimming]) if (t) this.opts.clock.clearTimeout(t)
    this.looking = this.trimming = undefined
    this.unwatch?.()
    this.unwatch = undefined
  }

  private quiet(): boolean {
    return this.opts.idleMs() >= this.quietMs
  }

  private look(): void {
    if (this.quiet() && !this.unwatch) {
      this.unwatch = this.opts.watchCollections(() => this.afterFullCollection())
      if (this.lastTrimAt <= this.writtenAt()) this.trimNow()
    } else if (!this.quiet() && this.unwatch) {
      this.unwatch()
      this.unwatch = undefined
    }
  }

  private trimNow(): void {
    try {
      this.lastTrimAt = this.opts.clock.now()
      this.stats.trims++
      if (this.opts.trim()) this.stats.released++
    } catch (err) {
      this.opts.onError(err)
    }
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
    return { unavailable: `koffi (an optional peer dependency: npm install koffi) did not load (${(err as Error).message})` }
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
