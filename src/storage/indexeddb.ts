/**
 * Browser storage in IndexedDB through idb-keyval. IndexedDB orders array keys element by element
 * (an array sorts after every string), so a prefix is one key range: [prefix, [...prefix, []]].
 * We open the database ourselves (the same few lines as idb-keyval's createStore) so that close()
 * can release the connection; every read and write goes through idb-keyval.
 */
import { del, get, promisifyRequest, set, type UseStore } from 'idb-keyval'
import { ClosedError, StorageError } from '../errors.js'
import { checkKey, checkOps, checkValue, type Storage, type StorageEntry, type StorageKey, type StorageOp } from './storage.js'

export interface IndexedDbStorageOptions {
  /** Database name; one per node, e.g. `domainmesh-<clusterId>`. */
  dbName: string
  storeName?: string
  /** Injected for tests (fake-indexeddb in Node); defaults to the global indexedDB. */
  indexedDB?: IDBFactory
  keyRange?: typeof IDBKeyRange
}

export class IndexedDbStorage implements Storage {
  private readonly db: Promise<IDBDatabase>
  private readonly store: UseStore
  private readonly keyRange: typeof IDBKeyRange
  private closed = false

  constructor(opts: IndexedDbStorageOptions) {
    const factory = opts.indexedDB ?? globalThis.indexedDB
    if (!factory) throw new StorageError('IndexedDB is not available in this environment')
    this.keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    const storeName = opts.storeName ?? 'kv'
    const request = factory.open(opts.dbName)
    request.onupgradeneeded = () => request.result.createObjectStore(storeName)
    this.db = promisifyRequest(request)
    this.store = (mode, callback) => this.db.then((db) => callback(db.transaction(storeName, mode).objectStore(storeName)))
  }

  async get(key: StorageKey): Promise<Uint8Array | undefined> {
    this.open()
    checkKey(key)
    return get<Uint8Array>(key as string[], this.store)
  }

  async put(key: StorageKey, value: Uint8Array): Promise<void> {
    this.open()
    checkKey(key)
    checkValue(value)
    await set(key as string[], value.slice(), this.store)
  }

  async delete(key: StorageKey): Promise<void> {
    this.open()
    checkKey(key)
    await del(key as string[], this.store)
  }

  async list(prefix: StorageKey): Promise<StorageEntry[]> {
    this.open()
    checkKey(prefix, true)
    return this.store('readonly', async (s) => {
      const range = this.rangeOf(prefix)
      const [keys, values] = await Promise.all([promisifyRequest(s.getAllKeys(range)), promisifyRequest(s.getAll(range))])
      return keys.map((k, i) => ({ key: k as string[], value: values[i] as Uint8Array }))
    })
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.open()
    checkKey(prefix, true)
    await this.store('readwrite', (s) => {
      const range = this.rangeOf(prefix)
      if (range) s.delete(range)
      else s.clear()
      return promisifyRequest(s.transaction)
    })
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.open()
    checkOps(ops)
    if (ops.length === 0) return
    // One transaction: IndexedDB commits all of it or none of it.
    await this.store('readwrite', (s) => {
      for (const op of ops) {
        if (op.type === 'put') s.put(op.value.slice(), op.key as string[])
        else s.delete(op.key as string[])
      }
      return promisifyRequest(s.transaction)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    ;(await this.db).close()
  }

  private open(): void {
    if (this.closed) throw new ClosedError('IndexedDB storage')
  }

  private rangeOf(prefix: StorageKey): IDBKeyRange | undefined {
    if (prefix.length === 0) return undefined
    return this.keyRange.bound([...prefix], [...prefix, []])
  }
}

