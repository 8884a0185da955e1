/**
 * One stored object and how a change applies to it. Besides its value, an object remembers the
 * version (the domain `seq` of the write) of each sub-element that was patched, so a
 * compare-and-set on one path is not disturbed by writes to other paths of the same object.
 */
import type { Patch } from 'immer'
import { CasConflictError, KeyNotFoundError } from '../errors.js'
import { checkPath } from './guard.js'
import { applyPatch } from './patch.js'

export type Path = readonly (string | number)[]
export interface PathVersion {
  readonly path: Path
  readonly version: number
}

/**
 * Remembered writes to sub-elements, newest first. Every replica records every patch here, so a
 * patch adds one node in front instead of copying an array: copying (and scanning) 20 entries per
 * patch was an eighth of a replica's CPU in the throughput benchmark, mostly cache misses. An
 * entry shadows older ones at or below its path, so the stale ones it leaves in the list never
 * change `versionAt`'s answer; they are pruned once the list is twice as long as it was after
 * the last pruning (`pruneAt`).
 */
export interface PathVersions extends PathVersion {
  readonly older: PathVersions | undefined
  /** Nodes in this list, this one included. */
  readonly length: number
  readonly pruneAt: number
}

export interface StoredObject {
  readonly value: unknown
  /** Seq of the last write to any part of the object. */
  readonly version: number
  /** Versions of patched sub-elements, newer than `base`; absent after a whole-object put. */
  readonly paths?: PathVersions
  /** Version of everything not listed in `paths` (the last put, or a collapsed history). */
  readonly base: number
}

/**
 * One array edit as one operation: `remove` elements from `index` of the array at `path`, and
 * insert `value` there, as `Array.prototype.splice` does. `update` sends an Immer recipe's index
 * shifts (`shift`, `unshift`, `splice` near the front of a long array) as one of these instead of
 * a replace per shifted element (compact.ts). It sets the version of the whole array.
 */
export interface SplicePatch {
  op: 'splice'
  path: (string | number)[]
  index: number
  remove: number
  value: unknown[]
}

/** An operation of a patch: Immer's three, or a splice. */
export type StorePatch = Patch | SplicePatch

export type Change = { kind: 'put'; value: unknown } | { kind: 'patch'; patches: StorePatch[] } | { kind: 'delete' }

/** Past this many remembered paths the history collapses into one entry at the root: CAS stays safe, only coarser. */
const MAX_TRACKED_PATHS = 64
/** A list is not pruned before it is this long. */
const MIN_PRUNE_AT = 16

/**
 * An index-like string ('0', '17', not '01' or '-1') names the same element as its number, in an
 * array and in an object alike (`o[1]` is `o['1']`). Paths are written with numbers for those,
 * so that the write and the version check see one key however the caller spelled it. At most 15
 * digits: every such number is a safe integer.
 */
const INDEX_LIKE = /^(?:0|[1-9][0-9]{0,14})$/

export const canonicalSegment = (seg: string | number): string | number => (typeof seg === 'string' && INDEX_LIKE.test(seg) ? Number(seg) : seg)

/** `path` with index-like strings as numbers; `path` itself when it has none. */
export function canonicalPath(path: Path): Path {
  for (let i = 0; i < path.length; i++) {
    if (typeof path[i] === 'string' && INDEX_LIKE.test(path[i] as string)) return path.map(canonicalSegment)
  }
  return path
}

/**
 * The change as the primary logs it: every path canonical (see `canonicalPath`) and, if `dirty`
 * (validateWrite said so), every value in JSON form (`jsonValue`). Called once where a write
 * enters the primary (state-manager.ts, the session engine), so the log, every copy and the
 * version check all see one spelling, the primary's own copy included.
 */
export function normalizeChange(change: Change, dirty = false): Change {
  if (change.kind === 'delete') return change
  if (change.kind === 'put') return dirty ? { kind: 'put', value: jsonValue(change.value) } : change
  let out: StorePatch[] | undefined
  change.patches.forEach((p, i) => {
    const path = canonicalPath(p.path)
    const fix = dirty && p.op !== 'remove' && p.value !== undefined
    if (path === p.path && !fix) return
    out ??= change.patches.slice()
    out[i] = (fix ? { ...p, path: path as (string | number)[], value: jsonValue(p.value) } : { ...p, path: path as (string | number)[] }) as StorePatch
  })
  return out ? { kind: 'patch', patches: out } : change
}

/**
 * A value as JSON has it: `-0` is 0 (the wire carries it so), a member that is undefined is
 * dropped from an object and null in an array (as `JSON.stringify` does). Copies only what changes.
 */
export function jsonValue(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) {
    let out: unknown[] | undefined
    for (let i = 0; i < v.length; i++) {
      const x = v[i] === undefined ? null : jsonValue(v[i])
      if (!Object.is(x, v[i]) || !(i in v)) (out ??= v.slice())[i] = x
    }
    return out ?? v
  }
  let out: Record<string, unknown> | undefined
  for (const k of Object.keys(v)) {
    const was = (v as Record<string, unknown>)[k]
    const x = jsonValue(was)
    if (Object.is(x, was) && was !== undefined) continue // Object.is, not ===: -0 === 0
    out ??= { ...(v as Record<string, unknown>) }
    if (was === undefined) delete out[k]
    else out[k] = x
  }
  return out ?? v
}

/** Also true for a number and its index-like string, so that entries kept before paths were canonical still match. */
const sameSegment = (a: string | number, b: string | number): boolean => a === b || (typeof a !== typeof b && String(a) === String(b))

function isPrefix(a: Path, b: Path): boolean {
  if (a.length > b.length) return false
  for (let i = 0; i < a.length; i++) if (!sameSegment(a[i]!, b[i]!)) return false
  return true
}

/** The version of the sub-element at `path`: the last write to it, to an ancestor, or inside it. */
export function versionAt(obj: StoredObject, path: Path): number {
  let v = obj.base
  for (let e = obj.paths; e; e = e.older) if (e.version > v && (isPrefix(e.path, path) || isPrefix(path, e.path))) v = e.version
  return v
}

export function checkCas(key: string, obj: StoredObject | undefined, change: Change, ifVersion: number): void {
  const current = obj?.version ?? 0
  if (change.kind !== 'patch') {
    if (current !== ifVersion) throw new CasConflictError(key, [], ifVersion, current)
    return
  }
  if (!obj) throw new KeyNotFoundError(key)
  for (const p of change.patches) {
    const actual = versionAt(obj, p.path)
    if (actual > ifVersion) throw new CasConflictError(key, p.path, ifVersion, actual)
  }
}

/** Applies a change at `seq`. Throws a named error (and changes nothing) if it cannot apply. */
export function applyChange(key: string, obj: StoredObject | undefined, change: Change, seq: number): StoredObject | undefined {
  switch (change.kind) {
    case 'delete':
      return undefined
    case 'put':
      return { value: deepFreeze(change.value), version: seq, base: seq }
    case 'patch': {
      if (!obj) throw new KeyNotFoundError(key)
      let value = obj.value
      const touched: Path[] = []
      for (const p of change.patches) {
        checkPath(key, value, p)
        touched.push(touchedPath(value, p))
        value = applyPatch(value, p)
      }
      return { value, version: seq, base: obj.base, paths: trackPaths(obj, touched, seq) }
    }
  }
}

/**
 * The path whose version a patch sets. An insert into or a removal from an array shifts every
 * element after it, so it sets the version of the whole array: a check on any path through the
 * array (`items/1/done`, which now names another element) then conflicts. A replace of one
 * element leaves its siblings' checks alone.
 */
function touchedPath(root: unknown, p: StorePatch): Path {
  if (p.op === 'replace' || p.op === 'splice' || p.path.length === 0) return p.path
  let parent = root
  for (let i = 0; i < p.path.length - 1; i++) parent = (parent as Record<string | number, unknown>)[p.path[i]!]
  return Array.isArray(parent) ? p.path.slice(0, -1) : p.path
}

function trackPaths(obj: StoredObject, touched: readonly Path[], seq: number): PathVersions | undefined {
  let head = obj.paths
  for (const path of touched) head = { path, version: seq, older: head, length: (head?.length ?? 0) + 1, pruneAt: head?.pruneAt ?? MIN_PRUNE_AT }
  return head && head.length > head.pruneAt ? listOf(pathVersions(head)) : head
}

/**
 * The entries of a list that no newer one shadows, oldest first. A single-segment entry shadows
 * an older one whose path starts with its segment: the common case is looked up in a set.
 */
export function pathVersions(head: PathVersions | undefined): PathVersion[] {
  const kept: PathVersion[] = []
  const firstSegments = new Set<string | number>()
  const others: Path[] = []
  for (let e = head; e; e = e.older) {
    const p = e.path
    if (p.length > 0 && firstSegments.has(p[0]!)) continue
    if (others.some((o) => isPrefix(o, p))) continue
    kept.push({ path: p, version: e.version })
    if (p.length === 1) firstSegments.add(p[0]!)
    else others.push(p)
  }
  return kept.reverse()
}

/** A list of `entries` (oldest first), or one root entry at the newest version if there are too many. */
export function listOf(entries: readonly PathVersion[]): PathVersions | undefined {
  if (entries.length > MAX_TRACKED_PATHS) return { path: [], version: entries[entries.length - 1]!.version, older: undefined, length: 1, pruneAt: MIN_PRUNE_AT }
  const pruneAt = Math.max(MIN_PRUNE_AT, 2 * entries.length)
  let head: PathVersions | undefined
  for (const e of entries) head = { path: e.path, version: e.version, older: head, length: (head?.length ?? 0) + 1, pruneAt }
  return head
}

/** Values from the wire or disk are frozen like Immer's results, so nobody mutates shared state by accident. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}
