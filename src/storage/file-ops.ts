/**
 * File-system helpers of FileStorage: atomic writes (temporary file, then rename), fsync of a
 * file or folder, listing keys under a folder, and the percent-encoding of key segments.
 */
import { randomBytes } from 'node:crypto'
import { open, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

export const VALUE_EXT = '.v'
export const TMP_MARK = '.tmp-'

export async function writeFileAtomically(path: string, value: Uint8Array): Promise<void> {
  const tmp = `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(value)
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

/** fsync of a file or folder; one that is gone since needs none. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r').catch((err) => {
    if (isNotFound(err)) return undefined
    throw err
  })
  if (!fh) return
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function collect(dir: string, prefix: string[], out: string[][]): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if (isNotFound(err)) return
    throw err
  }
  for (const e of entries) {
    if (e.isDirectory()) await collect(join(dir, e.name), [...prefix, decodeSegment(e.name)], out)
    else if (e.name.endsWith(VALUE_EXT) && !e.name.includes(TMP_MARK)) out.push([...prefix, decodeSegment(e.name.slice(0, -VALUE_EXT.length))])
  }
}

export async function removeTempFiles(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await removeTempFiles(p)
    else if (e.name.includes(TMP_MARK)) await rm(p, { force: true })
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close()
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

export async function inChunks<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn))
}

export const startsWith = (key: readonly string[], prefix: readonly string[]): boolean => prefix.every((seg, i) => key[i] === seg)

export const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT'

const PLAIN = /^[A-Za-z0-9_-]+$/

export function encodeSegment(seg: string): string {
  // Nearly every segment (domain numbers, 'seg', padded seqs) needs no escaping: skip the encoder.
  if (PLAIN.test(seg)) return seg
  let out = ''
  for (const byte of new TextEncoder().encode(seg)) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`
  }
  return out
}

export function decodeSegment(name: string): string {
  return decodeURIComponent(name)
}
