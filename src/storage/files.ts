/**
 * Node storage in plain files, one file per key: ['a','b'] lives in `<root>/a/b.v`. A write goes to
 * a temporary file that is fsynced and then renamed over the old one (rename is atomic on POSIX),
 * then the directory is fsynced, so a crash at any point leaves either the old or the new value,
 * never a torn file. Leftover temporary files from a crash are removed when the storage opens.
 * Segments are percent-encoded (everything but [A-Za-z0-9_-]), so no segment can contain '/', '.'
 * or '..', and `x.v` (the value of ['x']) can never clash with `x/` (the keys under ['x']).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ClosedError, StorageError } from '../errors.js'
import { checkKey, checkOps, checkValue, compareKeys, type Storage, type StorageEntry, type StorageKey, type StorageOp } from './storage.js'

const VALUE_EXT = '.v'
const TMP_MARK = '.tmp-'

export class FileStorage implements Storage {
  private closed = false
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<FileStorage> {
    await mkdir(root, { recursive: true })
    await removeTempFiles(root)
    return new FileStorage(root)
  }

  async get(key: StorageKey): Promise<Uint8Array | undefined> {
    this.check()
    checkKey(key)
    try {
      return new Uint8Array(await readFile(this.pathOf(key)))
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw new StorageError(`cannot read ${JSON.stringify(key)}: ${(err as Error).message}`)
    }
  }

  async put(key: StorageKey, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }])
  }

  async delete(key: StorageKey): Promise<void> {
    await this.batch([{ type: 'delete', key }])
  }

  async list(prefix: StorageKey): Promise<StorageEntry[]> {
    this.check()
    checkKey(prefix, true)
    const keys: string[][] = []
    if (prefix.length > 0 && (await exists(this.pathOf(prefix)))) keys.push([...prefix])
    await collect(join(this.root, ...prefix.map(encodeSegment)), [...prefix], keys)
    keys.sort(compareKeys)
    const out: StorageEntry[] = []
    for (const key of keys) {
      const value = await this.get(key)
      if (value) out.push({ key, value }) // a concurrent delete may have removed it meanwhile
    }
    return out
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.check()
    checkKey(prefix, true)
    if (prefix.length === 0) {
      for (const name of await readdir(this.root)) await rm(join(this.root, name), { recursive: true, force: true })
      return
    }
    await rm(this.pathOf(prefix), { force: true })
    await rm(join(this.root, ...prefix.map(encodeSegment)), { recursive: true, force: true })
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.check()
    checkOps(ops)
    const dirs = new Set<string>()
    for (const op of ops) {
      const path = this.pathOf(op.key)
      const dir = join(this.root, ...op.key.slice(0, -1).map(encodeSegment))
      if (op.type === 'put') {
        checkValue(op.value)
        await mkdir(dir, { recursive: true })
        await writeDurably(path, op.value)
      } else {
        await unlink(path).catch((err) => {
          if (!isNotFound(err)) throw err
        })
      }
      dirs.add(dir)
    }
    // One directory fsync per directory touched makes the renames durable (group commit).
    for (const dir of dirs) await fsyncDir(dir)
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private check(): void {
    if (this.closed) throw new ClosedError('file storage')
  }

  private pathOf(key: StorageKey): string {
    const segs = key.map(encodeSegment)
    segs[segs.length - 1] += VALUE_EXT
    return join(this.root, ...segs)
  }
}

async function writeDurably(path: string, value: Uint8Array): Promise<void> {
  const tmp = `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(value)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch((err) => {
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

async function collect(dir: string, prefix: string[], out: string[][]): Promise<void> {
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

async function removeTempFiles(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await removeTempFiles(p)
    else if (e.name.includes(TMP_MARK)) await rm(p, { force: true })
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close()
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT'

export function encodeSegment(seg: string): string {
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
