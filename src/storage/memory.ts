/**
 * In-memory storage. Several MemoryStorage instances may share one `MemoryDisk`, which is how the
 * simulation restarts a node "from its disk" after a crash.
 */
import { ClosedError } from '../errors.js'
import { checkKey, checkOps, checkValue, compareKeys, hasPrefix, type Storage, type StorageEntry, type StorageKey, type StorageOp } from './storage.js'

export type MemoryDisk = Map<string, StorageEntry>

export class MemoryStorage implements Storage {
  private closed = false
  constructor(readonly disk: MemoryDisk = new Map()) {}

  async get(key: StorageKey): Promise<Uint8Array | undefined> {
    this.open()
    checkKey(key)
    return this.disk.get(JSON.stringify(key))?.value.slice()
  }

  async put(key: StorageKey, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }])
  }

  async delete(key: StorageKey): Promise<void> {
    await this.batch([{ type: 'delete', key }])
  }

  async list(prefix: StorageKey): Promise<StorageEntry[]> {
    this.open()
    checkKey(prefix, true)
    return [...this.disk.values()]
      .filter((e) => hasPrefix(e.key, prefix))
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((e) => ({ key: [...e.key], value: e.value.slice() }))
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.open()
    checkKey(prefix, true)
    for (const [k, e] of this.disk) if (hasPrefix(e.key, prefix)) this.disk.delete(k)
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.open()
    checkOps(ops)
    for (const op of ops) {
      const k = JSON.stringify(op.key)
      if (op.type === 'put') {
        checkValue(op.value)
        this.disk.set(k, { key: [...op.key], value: op.value.slice() })
      } else this.disk.delete(k)
    }
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private open(): void {
    if (this.closed) throw new ClosedError('memory storage')
  }
}
