/**
 * FileStorage's journal against a model: random puts, deletes, batches and range removals with a
 * tiny checkpoint size (so checkpoints, writes at checkpoint, early writes of large values and
 * skipped deletes all happen), and
 * at random points a "crash": the storage is dropped without close and opened again from disk.
 * Every acknowledged operation must be there after it, and nothing else.
 */
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { FileStorage } from '../../src/storage/files.js'
import { Journal } from '../../src/storage/journal.js'
import { seededRandom } from '../../src/util/random.js'
import { waitFor } from '../helpers/wait.js'
import { inTempDir } from '../helpers/temp-dir.js'

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

describe('FileStorage journal', { timeout: 60_000 }, () => {
  it('after crashes and clean closes alike, holds exactly what was acknowledged', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      const rnd = seededRandom(7)
      const pick = (n: number) => Math.floor(rnd() * n)
      const keyOf = () => (rnd() < 0.3 ? ['dom', String(pick(3))] : ['dom', String(pick(3)), 'seg', String(pick(6))])
      const model = new Map<string, string>()
      let st = await FileStorage.open(dir, { checkpointBytes: 2048 })
      let crashes = 0
      let midRotation = 0
      for (let step = 0; step < 600; step++) {
        const r = rnd()
        if (r < 0.45) {
          const key = keyOf()
          // Some values too large to carry over a rotation: those reach their files right away.
          const value = `v${step}-${'x'.repeat(rnd() < 0.15 ? 17 * 1024 + pick(200) : pick(200))}`
          await st.put(key, enc(value))
          model.set(key.join('/'), value)
        } else if (r < 0.65) {
          const key = keyOf()
          await st.delete(key)
          model.delete(key.join('/'))
        } else if (r < 0.8) {
          const a = keyOf()
          const b = keyOf()
          await st.batch([{ type: 'put', key: a, value: enc(`b${step}`) }, { type: 'delete', key: b }])
          model.set(a.join('/'), `b${step}`)
          model.delete(b.join('/'))
        } else if (r < 0.85) {
          const prefix = ['dom', String(pick(3))]
          await st.removeRange(prefix)
          for (const k of [...model.keys()]) if (k === prefix.join('/') || k.startsWith(`${prefix.join('/')}/`)) model.delete(k)
        } else if (r < 0.95) {
          // A crash: nothing in memory survives, only what the journal and the files hold. A
          // checkpoint may be half way (it runs beside commits): halt stops it where it is.
          // Half the crashes follow a burst that fills the journal, so they tend to land while a
          // checkpoint (which runs beside commits) is still writing files.
          if (rnd() < 0.5) {
            // Sometimes a record large enough to sync in the background goes first: the burst's
            // commits to other keys go on meanwhile, and one to its key waits for it.
            const large = rnd() < 0.5 ? ([keyOf(), `large${step}-${'z'.repeat(70 * 1024)}`] as const) : undefined
            const first = large ? st.put(large[0], enc(large[1])) : undefined
            if (large) await new Promise((r) => setImmediate(r))
            const burst = Array.from({ length: 4 }, () => [keyOf(), `burst${step}-${'y'.repeat(900)}`] as const)
            await Promise.all([first, ...burst.map(([key, value]) => st.put(key, enc(value)))])
            for (const [key, value] of large ? [large, ...burst] : burst) model.set(key.join('/'), value)
            // What a reader sees before the crash too: a later put of a key wins there as well.
            if (large) expect(dec((await st.get(large[0]))!), `step ${step}, read back`).toBe(model.get(large[0].join('/')))
          }
          await st.halt()
          if (existsSync(join(dir, 'journal.old.log'))) midRotation++
          st = await FileStorage.open(dir, { checkpointBytes: 2048 })
          crashes++
        } else {
          await st.close()
          st = await FileStorage.open(dir, { checkpointBytes: 2048 })
        }
        if (step % 25 === 0 || r >= 0.85) {
          const held = Object.fromEntries((await st.list([])).map((e) => [e.key.join('/'), dec(e.value)]))
          expect(held, `step ${step}`).toEqual(Object.fromEntries([...model].sort()))
        }
      }
      expect(crashes).toBeGreaterThan(20)
      expect(midRotation).toBeGreaterThan(0) // some crashes came while a checkpoint was half way
      await st.close()
    })
  })

  it('carries small values into the next journal at a rotation instead of writing a file for each', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      const files = async () => (await readdir(join(dir, 'k')).catch(() => [])).length
      let st = await FileStorage.open(dir, { checkpointBytes: 64 * 1024 })
      // 40 small keys, then one big value that fills the journal and starts a rotation.
      for (let i = 0; i < 40; i++) await st.put(['k', String(i)], enc(`small-${i}`))
      await st.put(['big'], enc('b'.repeat(70 * 1024)))
      await st.put(['k', 'after'], enc('after')) // a commit after the switch: waits for the rotation to have started
      await waitFor(() => !existsSync(join(dir, 'journal.old.log')), 'rotation to finish')
      expect(existsSync(join(dir, 'big.v'))).toBe(true) // too big to carry: written out
      expect(await files()).toBe(0) // the small ones live on in the new journal
      await st.put(['k', '0'], enc('newer')) // a newer value must win over the carried one after a crash
      await st.halt()
      st = await FileStorage.open(dir, { checkpointBytes: 64 * 1024 })
      const held = Object.fromEntries((await st.list(['k'])).map((e) => [e.key[1], dec(e.value)]))
      expect(Object.keys(held)).toHaveLength(41)
      expect([held['0'], held['39'], held.after]).toEqual(['newer', 'small-39', 'after'])
      await st.close()
    })
  })

  it('writes a large value to its file at once, before any checkpoint; a delete racing that write wins', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      const big = (c: string) => enc(c.repeat(40 * 1024))
      let st = await FileStorage.open(dir) // a 16 MiB journal: no checkpoint in this test
      await st.put(['snap', '1'], big('a'))
      // Not held in memory until a checkpoint (which this journal never reaches): on disk now.
      await waitFor(() => existsSync(join(dir, 'snap', '1.v')), 'the large value in its file')
      expect(dec((await st.get(['snap', '1']))!).length).toBe(40 * 1024)
      // Each delete is the commit right after its put's: it lands while the 1 MiB early write is
      // still going, and must win.
      for (let i = 2; i < 12; i++) await Promise.all([st.put(['snap', String(i)], enc('b'.repeat(1 << 20))), st.delete(['snap', String(i)])])
      await st.put(['snap', '1'], big('c')) // a newer value replaces the one written early
      await st.close()
      expect((await readdir(join(dir, 'snap'))).sort()).toEqual(['1.v'])
      st = await FileStorage.open(dir)
      expect(dec((await st.get(['snap', '1']))!)).toBe('c'.repeat(40 * 1024))
      await st.put(['snap', '1'], big('d'))
      await st.halt() // a crash: the journal still holds what the early write may not have finished
      st = await FileStorage.open(dir)
      expect(dec((await st.get(['snap', '1']))!)).toBe('d'.repeat(40 * 1024))
      await st.close()
    })
  })

  it('answers a small commit to another key while a large record still syncs, and keeps a key\'s commits in order', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      let st = await FileStorage.open(dir)
      // The sync after a large record takes 300 ms, as a ~180 KB snapshot's can on a busy disk.
      let lastWrite = 0
      const write = Journal.prototype.write
      const sync = Journal.prototype.sync
      vi.spyOn(Journal.prototype, 'write').mockImplementation(async function (this: Journal, payload: Uint8Array) {
        await write.call(this, payload)
        lastWrite = payload.byteLength
      })
      vi.spyOn(Journal.prototype, 'sync').mockImplementation(async function (this: Journal) {
        if (lastWrite >= 64 * 1024) await new Promise((r) => setTimeout(r, 300))
        await sync.call(this)
      })
      try {
        const done: string[] = []
        const big = st.put(['dom', '1', 'snap'], enc('s'.repeat(180 * 1024))).then(() => done.push('snapshot'))
        await new Promise((r) => setTimeout(r, 20)) // its record is written, its sync runs
        const other = st.put(['dom', '2', 'seg', '7'], enc('write to another domain')).then(() => done.push('other key'))
        const same = st.put(['dom', '1', 'snap'], enc('newer')).then(() => done.push('same key'))
        await Promise.all([big, other, same])
        expect(done).toEqual(['other key', 'snapshot', 'same key'])
        // A crash now: all three were acknowledged, and the later put of the same key wins.
        await st.halt()
        st = await FileStorage.open(dir)
        expect(dec((await st.get(['dom', '1', 'snap']))!)).toBe('newer')
        expect(dec((await st.get(['dom', '2', 'seg', '7']))!)).toBe('write to another domain')
      } finally {
        vi.restoreAllMocks()
        await st.close()
      }
    })
  })

  it('keys files the same way however the root is written (relative, ./, doubled and trailing slashes)', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      const root = `./${relative(process.cwd(), dir).replace('dm-journal-', '/dm-journal-')}/`
      let st = await FileStorage.open(root, { checkpointBytes: 1024 }) // checkpoints: files are written
      for (let i = 0; i < 30; i++) await st.put(['k', String(i)], enc('v'.repeat(100)))
      await st.close()
      st = await FileStorage.open(root, { checkpointBytes: 1024 }) // the files found on disk...
      for (let i = 0; i < 10; i++) await st.delete(['k', String(i)]) // ...are deleted, not skipped
      await st.close()
      st = await FileStorage.open(join(dir, '.'), { checkpointBytes: 1024 })
      expect((await st.list(['k'])).length).toBe(20)
      await st.removeRange(['k'])
      await st.put(['k', '5'], enc('again'))
      await st.close()
      st = await FileStorage.open(root)
      expect((await st.list(['k'])).map((e) => [e.key, dec(e.value)])).toEqual([[['k', '5'], 'again']])
      await st.close()
    })
  })

  it('a key deleted while a checkpoint is writing it stays deleted', async () => {
    await inTempDir('dm-journal-', async (dir) => {
      let st = await FileStorage.open(dir, { checkpointBytes: 2048 })
      // One batch that fills the journal: the checkpoint starts writing these 60 files...
      await st.batch(Array.from({ length: 60 }, (_, i) => ({ type: 'put' as const, key: ['k', String(i)], value: enc('x'.repeat(100)) })))
      // ...and these deletes arrive while it does.
      for (const i of [59, 58, 57]) await st.delete(['k', String(i)])
      expect(await st.get(['k', '59'])).toBeUndefined()
      await st.close()
      st = await FileStorage.open(dir, { checkpointBytes: 2048 })
      expect((await st.list(['k'])).length).toBe(57)
      await st.close()
    })
  })
})
