/**
 * The contract every Storage keeps. `open()` must open the same underlying place each time, so the
 * suite can check that data survives a close and reopen.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidKeyError } from '../errors.js'
import type { Storage } from '../storage/storage.js'

export interface StorageHarness {
  open(): Promise<Storage>
  teardown(): Promise<void>
}

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const s = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : new TextDecoder().decode(v))

export function runStorageTests(name: string, makeHarness: () => Promise<StorageHarness>): void {
  describe(`Storage conformance: ${name}`, { timeout: 30_000 }, () => {
    let h: StorageHarness | undefined
    let open: Storage[] = []
    const storage = async (): Promise<Storage> => {
      h ??= await makeHarness()
      const st = await h.open()
      open.push(st)
      return st
    }
    afterEach(async () => {
      for (const st of open) await st.close()
      open = []
      await h?.teardown()
      h = undefined
    })

    it('returns undefined for a missing key and the bytes put for a present one', async () => {
      const st = await storage()
      expect(await st.get(['nope'])).toBeUndefined()
      await st.put(['a'], b('one'))
      expect(s(await st.get(['a']))).toBe('one')
      await st.put(['a'], b('two'))
      expect(s(await st.get(['a']))).toBe('two')
    })

    it('keeps empty and large values byte for byte', async () => {
      const st = await storage()
      const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff)
      await st.put(['empty'], new Uint8Array(0))
      await st.put(['big'], big)
      expect((await st.get(['empty']))?.byteLength).toBe(0)
      expect(Buffer.from((await st.get(['big']))!).equals(Buffer.from(big))).toBe(true)
    })

    it('stores a copy: changing the array after put changes nothing stored', async () => {
      const st = await storage()
      const v = b('abc')
      await st.put(['k'], v)
      v[0] = 0
      expect(s(await st.get(['k']))).toBe('abc')
    })

    it('deletes, and deleting a missing key is fine', async () => {
      const st = await storage()
      await st.put(['a'], b('1'))
      await st.delete(['a'])
      await st.delete(['never'])
      expect(await st.get(['a'])).toBeUndefined()
    })

    it('lists by whole-segment prefix, sorted, never mixing ["a"] with ["ab"]', async () => {
      const st = await storage()
      for (const k of [['a', 'z'], ['ab'], ['a'], ['a', 'b', 'c'], ['a', 'b'], ['b']]) await st.put(k, b(k.join('/')))
      expect((await st.list(['a'])).map((e) => e.key)).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'z']])
      expect((await st.list(['a', 'b'])).map((e) => s(e.value))).toEqual(['a/b', 'a/b/c'])
      expect((await st.list([])).length).toBe(6)
      expect(await st.list(['c'])).toEqual([])
    })

    it('keeps keys with any characters apart ("/", ".", "..", "%", unicode)', async () => {
      const st = await storage()
      const keys = [['x/y'], ['x', 'y'], ['.'], ['..'], ['%2F'], ['dömäin', '🙂'], ['a.v'], ['CON']]
      for (const k of keys) await st.put(k, b(JSON.stringify(k)))
      for (const k of keys) expect(s(await st.get(k))).toBe(JSON.stringify(k))
      const listed = (await st.list([])).map((e) => JSON.stringify(e.key)).sort()
      expect(listed).toEqual(keys.map((k) => JSON.stringify(k)).sort())
    })

    it('removes a whole range and nothing outside it', async () => {
      const st = await storage()
      for (const k of [['d', '1'], ['d', '2', 'x'], ['d'], ['dx'], ['e']]) await st.put(k, b('v'))
      await st.removeRange(['d'])
      expect((await st.list([])).map((e) => e.key)).toEqual([['dx'], ['e']])
      await st.removeRange([])
      expect(await st.list([])).toEqual([])
    })

    it('applies a batch of puts and deletes', async () => {
      const st = await storage()
      await st.put(['old'], b('x'))
      await st.batch([
        { type: 'put', key: ['log', '1'], value: b('one') },
        { type: 'put', key: ['log', '2'], value: b('two') },
        { type: 'delete', key: ['old'] },
      ])
      expect((await st.list([])).map((e) => e.key)).toEqual([['log', '1'], ['log', '2']])
    })

    it('rejects bad keys with InvalidKeyError and keeps what was stored', async () => {
      const st = await storage()
      await st.put(['keep'], b('safe'))
      const bad: unknown[] = [[], 'a', [''], [1], [null], Array(17).fill('k'), ['x'.repeat(201)]]
      for (const key of bad) await expect(st.put(key as string[], b('x'))).rejects.toThrow(InvalidKeyError)
      await expect(st.put(['v'], 'not bytes' as unknown as Uint8Array)).rejects.toThrow(InvalidKeyError)
      await expect(st.batch([{ type: 'put', key: ['ok'], value: b('1') }, { type: 'put', key: [], value: b('2') }])).rejects.toThrow(InvalidKeyError)
      expect((await st.list([])).map((e) => e.key)).toEqual([['keep']])
    })

    it('keeps everything across close and reopen', async () => {
      const st = await storage()
      await st.put(['p', '1'], b('persisted'))
      await st.batch([{ type: 'put', key: ['p', '2'], value: b('batched') }])
      await st.close()
      const again = await storage()
      expect(s(await again.get(['p', '1']))).toBe('persisted')
      expect((await again.list(['p'])).map((e) => s(e.value))).toEqual(['persisted', 'batched'])
    })
  })
}
