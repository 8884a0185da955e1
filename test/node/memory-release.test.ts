/**
 * A quiet peer gives the C heap's free pages back after a full collection; a busy one does not.
 * The last test does it for real: a child process leaves 64 MB of freed blocks below one it keeps,
 * and the trim through koffi takes its resident size down.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { loadMallocTrim, MemoryRelease } from '../../src/node/memory-release.js'
import { FakeClock } from '../../src/util/clock.js'

function setup(idle: { ms: number }, trim: () => boolean = () => true) {
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
    expect(release.stats).toEqual({ trims: 2, released: 2 })
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
    expect(release.stats).toEqual({ trims: 2, released: 0 })
    gc.fire!()
    release.stop()
    expect(gc.fire).toBeUndefined()
    await clock.advance(20_000)
    expect(calls).toHaveLength(2)
    expect(clock.pending()).toBe(0)
  })
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
