/**
 * A quiet peer gives the C heap's free pages back after a full collection; a busy one does not.
 * The last test does it for real: a child process leaves 64 MB of freed blocks below one it keeps,
 * and the trim through koffi takes its resident size down.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { loadCollector, loadMallocTrim, MemoryRelease, type MemoryReleaseOptions } from '../../src/node/memory-release.js'
import { FakeClock } from '../../src/util/clock.js'

function setup(idle: { ms: number }, trim: () => boolean = () => true, more: Partial<MemoryReleaseOptions> = {}) {
  const clock = new FakeClock(1000)
  const calls: number[] = []
  const errors: unknown[] = []
  /** The collection callback while watched, else undefined. */
  const gc: { fire?: () => void; watches: number } = { watches: 0 }
  const release = new MemoryRelease({
    clock,
    trim: () => {
      calls.push(clock.now())
      return trim()
    },
    idleMs: () => idle.ms,
    watchCollections: (fn) => {
      gc.fire = fn
      gc.watches++
      return () => (gc.fire = undefined)
    },
    quietMs: 5000,
    delayMs: 1000,
    onError: (err) => errors.push(err),
    ...more,
  })
  release.start()
  return { clock, calls, errors, release, gc }
}

describe('MemoryRelease', () => {
  it('trims a node that went quiet, then once a while after each full collection', async () => {
    const idle = { ms: 0 }
    const { clock, calls, release, gc } = setup(idle)
    await clock.advance(5000)
    expect([calls, gc.fire]).toEqual([[], undefined]) // busy: not even watching collections
    idle.ms = 5000
    await clock.advance(5000)
    expect(calls).toEqual([11_000]) // quiet now: trimmed at once, and watched from here on
    gc.fire!()
    gc.fire!() // one trim for collections close together
    await clock.advance(999)
    expect(calls).toHaveLength(1)
    await clock.advance(1)
    expect(calls).toEqual([11_000, 12_000])
    expect(release.stats).toMatchObject({ trims: 2, released: 2 })
    await clock.advance(20_000)
    expect([calls.length, gc.watches]).toEqual([2, 1]) // no collection, no trim; watched once
  })

  it('stops watching once a write comes, and never trims a busy node', async () => {
    const idle = { ms: 60_000 }
    const { clock, calls, gc } = setup(idle)
    await clock.advance(5000)
    expect(calls).toHaveLength(1)
    gc.fire!()
    idle.ms = 200 // a write before the delayed trim
    await clock.advance(1000)
    expect(calls).toHaveLength(1)
    await clock.advance(5000)
    expect(gc.fire).toBeUndefined()
    idle.ms = 6000
    await clock.advance(5000)
    expect([calls.length, gc.watches]).toEqual([2, 2])
  })

  it('tells whether a collection was followed by a trim since the last write (what "at rest" waits for)', async () => {
    const idle = { ms: Infinity } // never written to
    const { clock, release, gc } = setup(idle)
    let wroteAt = -Infinity
    Object.defineProperty(idle, 'ms', { get: () => clock.now() - wroteAt })
    const write = () => (wroteAt = clock.now())
    await clock.advance(5000)
    expect(release.stats.trims).toBe(1)
    expect(release.trimmedSinceLastWrite()).toBe(false) // the trim on going quiet does not count
    gc.fire!()
    await clock.advance(1000)
    expect(release.trimmedSinceLastWrite()).toBe(true)
    write()
    expect(release.trimmedSinceLastWrite()).toBe(false)
    await clock.advance(4000) // busy at this look (idle 4 s): no longer watched
    await clock.advance(5000) // idle 9 s at this look: trimmed on going quiet, watched again
    expect([release.stats.trims, release.trimmedSinceLastWrite()]).toEqual([3, false])
    gc.fire!()
    await clock.advance(1000)
    expect([release.stats.trims, release.trimmedSinceLastWrite()]).toEqual([4, true])
  })

  it('reports a failing trim and keeps going; after stop nothing runs', async () => {
    let fail = true
    const { clock, calls, errors, release, gc } = setup({ ms: 60_000 }, () => {
      if (fail) throw new Error('boom')
      return false
    })
    await clock.advance(5000)
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom'])
    fail = false
    gc.fire!()
    await clock.advance(1000)
    expect(release.stats).toMatchObject({ trims: 2, released: 0 })
    gc.fire!()
    release.stop()
    expect(gc.fire).toBeUndefined()
    await clock.advance(20_000)
    expect(calls).toHaveLength(2)
    expect(clock.pending()).toBe(0)
  })
})

describe('MemoryRelease with a collection', () => {
  /** A collection the test ends (`done`) or fails, noting when it was asked for. */
  function collector() {
    const asked: number[] = []
    const running: { resolve: () => void; reject: (e: Error) => void }[] = []
    const collect = () => new Promise<void>((resolve, reject) => running.push({ resolve, reject }))
    return { asked, running, collect }
  }

  it('asks for it once when a node with slack goes quiet, and trims after it (not at once)', async () => {
    const idle = { ms: 0 }
    const c = collector()
    let slack = 40 << 20
    const { clock, calls, release } = setup(idle, () => true, { collect: () => (c.asked.push(clock.now()), c.collect()), slackBytes: () => slack })
    await clock.advance(5000)
    expect(c.asked).toEqual([]) // busy: never under load
    idle.ms = 5000
    await clock.advance(5000)
    expect([c.asked, calls]).toEqual([[11_000], []])
    await clock.advance(2000)
    c.running.shift()!.resolve()
    await clock.advance(999)
    expect(calls).toEqual([])
    await clock.advance(1)
    expect(calls).toEqual([14_000]) // delayMs after the collection ended
    expect(release.stats).toMatchObject({ collections: 1, collectMs: 2000, trims: 1 })
    expect(release.trimmedSinceLastWrite()).toBe(true)
    idle.ms = 100_000
    await clock.advance(30_000)
    expect(c.asked).toHaveLength(1) // once per quiet period
    idle.ms = 0 // a write, then quiet again: but V8 holds little beyond its use now
    await clock.advance(5000)
    slack = 4 << 20
    idle.ms = 5000
    await clock.advance(5000)
    expect(c.asked).toHaveLength(1)
    expect(calls).toHaveLength(2) // the plain trim on going quiet instead
  })

  it('is not asked for on a node whose live heap would make its pause too long (the plain trim instead)', async () => {
    const c = collector()
    let used = 300 << 20
    const idle = { ms: 60_000 }
    const { clock, calls } = setup(idle, () => true, { collect: () => (c.asked.push(clock.now()), c.collect()), slackBytes: () => 64 << 20, usedBytes: () => used })
    await clock.advance(5000)
    expect([c.asked, calls]).toEqual([[], [6_000]])
    idle.ms = 0 // a write; then quiet again with a smaller live heap
    await clock.advance(5000)
    used = 100 << 20
    idle.ms = 60_000
    await clock.advance(5000)
    expect(c.asked).toHaveLength(1)
  })

  it('trims at once if the collection fails, and reports it', async () => {
    const c = collector()
    const { clock, calls, errors } = setup({ ms: 60_000 }, () => true, { collect: c.collect, slackBytes: () => 64 << 20 })
    await clock.advance(5000)
    expect(calls).toEqual([])
    c.running.shift()!.reject(new Error('no inspector'))
    await clock.advance(0)
    expect([calls, errors.map((e) => (e as Error).message)]).toEqual([[6000], ['no inspector']])
  })

  it('runs without a trim (a C library without malloc_trim)', async () => {
    const c = collector()
    const clock = new FakeClock(0)
    const release = new MemoryRelease({ clock, idleMs: () => 60_000, watchCollections: () => () => {}, collect: c.collect, onError: (err) => { throw err } })
    release.start()
    await clock.advance(5000)
    c.running.shift()!.resolve()
    await clock.advance(1000)
    expect(release.stats).toMatchObject({ collections: 1, trims: 0 })
    release.stop()
  })
})

describe('loadCollector', () => {
  it('gives back the young generation a burst grew', async () => {
    // In a child: the burst must be its only one. (A plain full collection, global.gc(), keeps the
    // young generation as the burst left it on Node 20: that is why the inspector is used.)
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8'
      import { loadCollector } from ${JSON.stringify(new URL('../../src/node/memory-release.ts', import.meta.url).pathname)}
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
      const kept = []
      for (let i = 0; i < 2e6; i++) { const o = { i, s: 'x' + i }; if (i % 16 === 0) kept.push(o) }
      const burst = young()
      await (await loadCollector())()
      console.log(JSON.stringify({ burst, after: young(), kept: kept.length }))
    `
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    const { burst, after } = JSON.parse(out.trim().split('\n').pop()!) as { burst: number; after: number }
    expect(burst).toBeGreaterThan(8 << 20)
    expect(after).toBeLessThan(burst / 4)
  }, 30_000)
})

describe('loadMallocTrim', () => {
  it.runIf(process.platform === 'linux')('gives freed heap pages back to the system (glibc, koffi)', async () => {
    expect(typeof (await loadMallocTrim())).toBe('function')
    // 4 KiB blocks stay below glibc's mmap threshold, so they all come from the heap; the one kept
    // at the top pins everything below it, as a burst's arena chunks do.
    const script = `
      import { loadMallocTrim } from ${JSON.stringify(new URL('../../src/node/memory-release.ts', import.meta.url).pathname)}
      const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024
      let blocks = []
      for (let i = 0; i < 16384; i++) blocks.push(new Uint8Array(4096).fill(1))
      globalThis.kept = new Uint8Array(4096).fill(2)
      blocks = undefined
      globalThis.gc()
      await new Promise((r) => setTimeout(r, 300))
      const before = rss()
      const trim = await loadMallocTrim()
      const released = trim()
      console.log(JSON.stringify({ before, after: rss(), released }))
    `
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);${script}`], { encoding: 'utf8' })
    const { before, after, released } = JSON.parse(out.trim().split('\n').pop()!) as { before: number; after: number; released: boolean }
    expect(released).toBe(true)
    expect(before - after).toBeGreaterThan(32 * 1024 * 1024)
  }, 30_000)
})
