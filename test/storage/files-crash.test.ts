import { spawn } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileStorage } from '../../src/storage/files.js'
import { sleep } from '../helpers/wait.js'
import { inTempDir } from '../helpers/temp-dir.js'

async function killMidWrite(dir: string, afterMs: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)))
  })
  await sleep(afterMs)
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
}

describe('FileStorage under kill -9', { timeout: 60_000 }, () => {
  it('always leaves a whole old or new value, never a torn one', async () => {
    await inTempDir('dm-crash-', async (dir) => {
      for (const afterMs of [15, 40, 75, 120, 200]) {
        await killMidWrite(dir, afterMs)
        const st = await FileStorage.open(dir)
        const v = await st.get(['k'])
        expect(v?.byteLength).toBe(4 << 20)
        const first = v![0]
        expect(first === 0xaa || first === 0xbb).toBe(true)
        expect(v!.every((x) => x === first)).toBe(true)
        // Opening cleaned up the half-written temporary file the killed writer left behind.
        expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([])
        await st.close()
      }
    })
  })

  it('ignores a stray temporary file when listing', async () => {
    await inTempDir('dm-tmp-', async (dir) => {
      const st = await FileStorage.open(dir)
      await st.put(['a'], Uint8Array.of(1))
      await writeFile(join(dir, 'b.v.tmp-deadbeef'), 'half')
      expect((await st.list([])).map((e) => e.key)).toEqual([['a']])
    })
  })
})
