/**
 * Storage keeps bytes under array keys (like automerge-repo's StorageAdapter). Keys are compared
 * segment by segment, so `list(['a'])` finds ['a'] and ['a','x'] but never ['ab'].
 */
import { InvalidKeyError } from '../errors.js'

export type StorageKey = readonly string[]

export interface StorageEntry {
  key: string[]
  value: Uint8Array
}

export type StorageOp = { type: 'put'; key: StorageKey; value: Uint8Array } | { type: 'delete'; key: StorageKey }

export interface Storage {
  /**
   * What it stores survives the process and is meant to be kept (files). A node on such storage is
   * a durable member by default (MeshNode's `durable`); absent means ephemeral.
   */
  readonly durable?: boolean
  get(key: StorageKey): Promise<Uint8Array | undefined>
  put(key: StorageKey, value: Uint8Array): Promise<void>
  delete(key: StorageKey): Promise<void>
  /** Every entry whose key starts with `prefix`, sorted by key. */
  list(prefix: StorageKey): Promise<StorageEntry[]>
  /** Deletes every entry whose key starts with `prefix`. */
  removeRange(prefix: StorageKey): Promise<void>
  /** Applies several puts and deletes with one commit (group commit); on failure none is lost half-written. */
  batch(ops: readonly StorageOp[]): Promise<void>
  close(): Promise<void>
}

export const MAX_KEY_SEGMENTS = 16
export const MAX_SEGMENT_LENGTH = 200

export function checkKey(key: unknown, allowEmpty = false): asserts key is StorageKey {
  if (!Array.isArray(key)) throw new InvalidKeyError(key, 'expected an array of strings')
  if (key.length === 0 && !allowEmpty) throw new InvalidKeyError(key, 'expected at least one segment')
  if (key.length > MAX_KEY_SEGMENTS) throw new InvalidKeyError(key, `more than ${MAX_KEY_SEGMENTS} segments`)
  for (const seg of key) {
    if (typeof seg !== 'string' || seg.length === 0) throw new InvalidKeyError(key, 'every segment must be a non-empty string')
    if (seg.length > MAX_SEGMENT_LENGTH) throw new InvalidKeyError(key, `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`)
  }
}

export function checkValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidKeyError('(value)', 'storage values must be Uint8Array')
}

export function checkOps(ops: readonly StorageOp[]): void {
  for (const op of ops) {
    checkKey(op.key)
    if (op.type === 'put') checkValue(op.value)
    else if (op.type !== 'delete') throw new InvalidKeyError((op as { key: unknown }).key, `unknown batch op ${String((op as { type: unknown }).type)}`)
  }
}

export function compareKeys(a: StorageKey, b: StorageKey): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

export const hasPrefix = (key: StorageKey, prefix: StorageKey): boolean =>
  prefix.length <= key.length && prefix.every((seg, i) => key[i] === seg)
