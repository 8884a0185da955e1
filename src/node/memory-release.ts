/**
 * Gives memory back to the system once a Node peer is quiet: V8's headroom after a burst (one
 * memory-reducing collection, `collect` below) and the C heap's free pages. glibc's malloc
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

/**
 * A full collection that also gives V8's own headroom back: the young generation shrunk to its
 * smallest, the old generation compacted and its free pages released (`loadCollector`).
 */
export type Collect = () => Promise<void>

export interface MemoryReleaseOptions {
  clock: Clock
  /** Absent: the C library has none (see `loadMallocTrim`); the collection alone still runs. */
  trim?: Trim
  /** Ms since this node last saw a write. */
  idleMs: () => number
  /** Starts calling `fn` after every full collection; returns how to stop (`onFullCollections`). */
  watchCollections: (fn: () => void) => () => void
  /** Trim only on a node idle this long; also how often it looks (default 5 s). */
  quietMs?: number
  /** After a full collection, wait this long for V8's sweeper to free the ArrayBuffers (default 1 s). */
  delayMs?: number
  /**
   * Asked once each time the node goes quiet, before the trim (absent: only the trim). V8 keeps
   * a burst's young generation (two semi-spaces grown to 16 MiB each) and old-space headroom
   * committed until its memory reducer runs, which it does only once it judges the allocation
   * rate low: on a quiet peer that took from a few seconds to over a minute, so what an operator
   * saw after a burst depended on when they looked.
   */
  collect?: Collect
  /**
   * Bytes V8 holds beyond what it uses (heap size less used); the collection is asked for only
   * when this is at least `minSlackBytes`. It pauses the node for a few hundred ms when it holds
   * 100,000 objects, so a node that often goes quiet without its heap growing does not pay it each time.
   */
  slackBytes?: () => number
  /** Default 16 MiB: what the young generation alone grows by under a burst. */
  minSlackBytes?: number
  /**
   * Bytes of live heap (V8's `used_heap_size`); above `maxUsedBytes` the collection is not asked
   * for. Its pause grows with the live heap (0.2-0.3 s at 40-60 MB), and a node that stops for
   * three heartbeats (3 s by default) is marked down: a large node keeps its headroom instead.
   */
  usedBytes?: () => number
  /** Default 256 MiB. */
  maxUsedBytes?: number
  onError: (err: unknown) => void
}

const DEFAULT_MIN_SLACK = 16 * 1024 * 1024
const DEFAULT_MAX_USED = 256 * 1024 * 1024

/**
 * Collections are watched only while the node is quiet: a `gc` observer makes Node build an entry
 * for every collection, scavenges included, which cost 3-4 % of an allocation-heavy loop here, and
 * under load there is nothing to trim anyway. Every `quietMs` it looks: a node that went quiet is
 * trimmed at once (the burst's buffers freed so far), or, if V8 holds much more than it uses,
 * first collected (`collect`) and trimmed after that; it is watched from then on, for the full
 * collections with which V8 gives back the rest; a write stops the watching.
 */
export class MemoryRelease {
  private looking: TimerHandle | undefined
  private trimming: TimerHandle | undefined
  private unwatch: (() => void) | undefined
  private stopped = false
  /** Trims run, and those that gave memory back; collections asked for, and the ms the last one took. */
  readonly stats = { trims: 0, released: 0, collections: 0, collectMs: 0 }
  private collecting = false
  /** When the last collection was asked for (clock ms). */
  private lastCollectAt = -Infinity
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

  private slack(): number {
    return this.opts.slackBytes?.() ?? Infinity
  }

  private quiet(): boolean {
    return this.opts.idleMs() >= this.quietMs
  }

  private look(): void {
    if (this.quiet() && !this.unwatch) {
      this.unwatch = this.opts.watchCollections(() => this.afterFullCollection())
      if (this.opts.collect && this.lastCollectAt <= this.writtenAt() && this.slack() >= (this.opts.minSlackBytes ?? DEFAULT_MIN_SLACK) && (this.opts.usedBytes?.() ?? 0) <= (this.opts.maxUsedBytes ?? DEFAULT_MAX_USED)) this.collectNow(this.opts.collect)
      else if (this.lastTrimAt <= this.writtenAt()) this.trimNow()
    } else if (!this.quiet() && this.unwatch) {
      this.unwatch()
      this.unwatch = undefined
    }
  }

  /** The collection, then (as after any full collection) the trim once the sweeper has freed the buffers. */
  private collectNow(collect: Collect): void {
    if (this.collecting) return
    this.collecting = true
    const start = (this.lastCollectAt = this.opts.clock.now())
    this.stats.collections++
    void collect()
      .then(
        () => {
          this.stats.collectMs = this.opts.clock.now() - start
          this.afterFullCollection()
        },
        (err: unknown) => {
          this.opts.onError(err)
          if (!this.stopped) this.trimNow()
        },
      )
      .finally(() => (this.collecting = false))
  }

  private trimNow(): void {
    if (!this.opts.trim) return
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
 * V8's memory-reducing collection (`Isolate::LowMemoryNotification`: full collections until
 * nothing more is freed, the young generation shrunk, free pages released), asked for through the
 * inspector protocol's `HeapProfiler.collectGarbage` on an in-process session: no port is
 * opened, and no other domain is enabled. `global.gc` (from --expose-gc, or set at run time)
 * does a plain full collection, which leaves the young generation as large as the burst made it.
 * Or why there is none (a Node built without the inspector).
 */
export async function loadCollector(): Promise<Collect | { unavailable: string }> {
  let Session: typeof import('node:inspector').Session
  try {
    Session = (await import('node:inspector')).Session
  } catch (err) {
    return { unavailable: `no inspector in this Node (${(err as Error).message})` }
  }
  return () =>
    new Promise<void>((resolve, reject) => {
      const session = new Session()
      session.connect()
      session.post('HeapProfiler.collectGarbage', (err) => {
        // Disconnected in this callback, the session never returns from its dispatch and the
        // event loop stops: only after it.
        setImmediate(() => {
          session.disconnect()
          if (err) reject(err)
          else resolve()
        })
      })
    })
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
