/**
 * Checks every key, value and patch before it reaches Immer: path segments that could reach a
 * prototype are refused, depth and size are bounded, values must be plain data, and a patch must
 * name a path that exists (or, for `add`, whose parent exists).
 */
import type { StorePatch } from './objects.js'
import { encodeValue } from '../wire/codec.js'
import { ForbiddenPathError, InvalidOptionError, InvalidPatchError, InvalidStoreKeyError, InvalidValueError, PathNotFoundError, ValueTooLargeError } from '../errors.js'

export interface Limits {
  /** Longest key, in characters. */
  maxKeyLength: number
  /** Deepest path a patch may name, and deepest nesting a value may have. */
  maxDepth: number
  /** Largest encoded value of a put, or of all values in one patch. */
  maxValueBytes: number
  /** Most operations in one patch. */
  maxOps: number
}

export const DEFAULT_LIMITS: Limits = { maxKeyLength: 512, maxDepth: 32, maxValueBytes: 1024 * 1024, maxOps: 1000 }

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])

/**
 * A lone surrogate has no UTF-8 form: msgpack carries it as U+FFFD, so the writer's copy and
 * every other would disagree (and two keys could become one). Refused instead.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s)

export function checkStoreKey(key: unknown, limits: Limits): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidStoreKeyError(key, 'expected a non-empty string')
  if (key.length > limits.maxKeyLength) throw new InvalidStoreKeyError(key.slice(0, 40) + '…', `longer than ${limits.maxKeyLength} characters`)
  if (!wellFormed(key)) throw new InvalidStoreKeyError(key, 'contains a lone surrogate (not valid Unicode)')
}

/**
 * Plain data only: what JSON carries, nested at most `maxDepth` deep. Returns true when the value
 * holds something JSON spells otherwise (see `jsonValue`): `-0`, or `undefined` as a member.
 */
export function checkValue(value: unknown, limits: Limits, what = 'value'): boolean {
  if (value === undefined) throw new InvalidValueError(`undefined cannot be stored as ${what} (JSON has no undefined; delete the key instead)`)
  const dirty = checkPlain(value, limits.maxDepth, [])
  const bytes = encodedSize(value, limits.maxValueBytes)
  if (bytes > limits.maxValueBytes) throw new ValueTooLargeError(what, bytes, limits.maxValueBytes)
  return dirty
}

/**
 * The encoded size of a checked value, or of a leaf a bound that is at least its size whenever
 * that bound is within `limit` (so nothing under the limit is refused). Most patches set a leaf:
 * encoding one just to measure it cost a msgpack call per patch, on the writer and the primary.
 */
function encodedSize(v: unknown, limit: number): number {
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'number') return 9
  if (typeof v === 'string' && 5 + 3 * v.length <= limit) return 5 + 3 * v.length
  return encodeValue(v).byteLength
}

/**
 * `path` is where `v` sits; it is extended and restored in place, and copied only into an error.
 * Returns true if `v` is `-0` or holds `-0` or an `undefined` member (see `jsonValue`).
 */
function checkPlain(v: unknown, depthLeft: number, path: (string | number)[]): boolean {
  if (v === null || typeof v === 'boolean') return false
  if (typeof v === 'string') {
    if (!wellFormed(v)) throw new InvalidValueError(`string with a lone surrogate (not valid Unicode) at /${path.join('/')}`)
    return false
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidValueError(`non-finite number at /${path.join('/')}`)
    return Object.is(v, -0)
  }
  if (v === undefined) return path.length > 0
  if (depthLeft <= 0) throw new InvalidValueError(`nested deeper than the limit at /${path.join('/')}`)
  let dirty = false
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      path.push(i)
      // A hole reads as undefined: it becomes null, as in JSON.
      if (checkPlain(v[i], depthLeft - 1, path) || v[i] === undefined) dirty = true
      path.pop()
    }
    return dirty
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) throw new InvalidValueError(`only plain objects and arrays are stored (found ${proto?.constructor?.name ?? 'an exotic object'} at /${path.join('/')})`)
    for (const k of Object.keys(v)) {
      if (FORBIDDEN.has(k)) throw new ForbiddenPathError([...path, k], k)
      if (!wellFormed(k)) throw new InvalidValueError(`key with a lone surrogate (not valid Unicode) at /${path.join('/')}`)
      path.push(k)
      if (checkPlain((v as Record<string, unknown>)[k], depthLeft - 1, path)) dirty = true
      path.pop()
    }
    return dirty
  }
  throw new InvalidValueError(`${typeof v} at /${path.join('/')} cannot be stored`)
}

/**
 * Validates the shape of a patch list. Paths are checked against the object as each operation
 * applies (objects.ts). Returns true if a value needs `jsonValue`. An add or replace without a
 * value (Immer's patch for `d.x = undefined`, `delete arr[i]`) is taken: it removes the key of an
 * object and leaves null in an array (patch.ts).
 */
export function checkPatches(patches: readonly StorePatch[], limits: Limits): boolean {
  if (!Array.isArray(patches) || patches.length === 0) throw new InvalidPatchError('expected a non-empty array of operations')
  if (patches.length > limits.maxOps) throw new InvalidPatchError(`${patches.length} operations, over the limit of ${limits.maxOps}`)
  let bytes = 0
  let dirty = false
  for (const [i, p] of patches.entries()) {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new InvalidPatchError(`operation ${i} is ${p === null ? 'null' : Array.isArray(p) ? 'an array' : typeof p}, not an object with op and path`)
    if (p.op !== 'add' && p.op !== 'replace' && p.op !== 'remove' && p.op !== 'splice') throw new InvalidPatchError(`unknown op ${JSON.stringify(p.op)}`)
    if (p.op === 'splice') {
      if (!isIndex(p.index) || !isIndex(p.remove)) throw new InvalidPatchError('a splice needs index and remove, non-negative integers')
      if (!Array.isArray(p.value)) throw new InvalidPatchError('a splice needs value, the array of elements it inserts')
    }
    if (!Array.isArray(p.path)) throw new InvalidPatchError('path must be an array')
    if (p.path.length > limits.maxDepth) throw new InvalidPatchError(`path deeper than ${limits.maxDepth}`)
    for (const seg of p.path) {
      if (typeof seg !== 'string' && !(typeof seg === 'number' && Number.isSafeInteger(seg) && seg >= 0)) throw new InvalidPatchError(`path segment ${JSON.stringify(seg)} is not a string or index`)
      if (typeof seg === 'string' && FORBIDDEN.has(seg)) throw new ForbiddenPathError(p.path, seg)
      if (typeof seg === 'string' && !wellFormed(seg)) throw new InvalidPatchError(`path segment ${JSON.stringify(seg)} contains a lone surrogate (not valid Unicode)`)
    }
    if (p.op !== 'remove' && p.value === undefined && p.path.length === 0) throw new InvalidPatchError('an add or replace of the whole value needs a value (delete the key instead)')
    if (p.op !== 'remove' && p.value !== undefined) {
      // A splice's elements sit one level below its path, as its value does (an array).
      if (checkPlain(p.value, limits.maxDepth - p.path.length, typeof p.value === 'object' && p.value !== null ? [...p.path] : (p.path as (string | number)[]))) dirty = true
      bytes += encodedSize(p.value, limits.maxValueBytes - bytes)
    }
  }
  if (bytes > limits.maxValueBytes) throw new ValueTooLargeError('patch', bytes, limits.maxValueBytes)
  return dirty
}

/**
 * Every check a write gets before it is applied; run by the caller's node and again by the
 * primary. Returns true if a value needs `jsonValue` (objects.ts `normalizeChange`).
 */
export function validateWrite(key: unknown, change: { kind: string; value?: unknown; patches?: readonly StorePatch[] }, limits: Limits): boolean {
  checkStoreKey(key, limits)
  if (change.kind === 'put') return checkValue(change.value, limits)
  if (change.kind === 'patch') return checkPatches(change.patches ?? [], limits)
  return false
}

/** A version as a compare-and-set names it: a safe integer of 0 or more (0: the key is absent). */
export const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
export const VERSION_MUST = 'a non-negative integer (a version; 0 means absent)'

/** The primary's own check of a write's `ifVersion`, with its other input: callers may reach it without going through the Store (which checks it at the call: store/options.ts). */
export function checkIfVersion(ifVersion: unknown): void {
  if (ifVersion !== undefined && !isVersion(ifVersion)) throw new InvalidOptionError('ifVersion', ifVersion, VERSION_MUST)
}

const isIndex = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

/** Throws PathNotFoundError unless `p` can be applied to `root`. */
export function checkPath(key: string, root: unknown, p: StorePatch): void {
  const { op, path } = p
  if (op === 'splice') {
    let node: unknown = root
    for (let i = 0; i < path.length; i++) {
      node = childOf(node, path[i]!)
      if (node === undefined) throw new PathNotFoundError(key, path.slice(0, i + 1))
    }
    if (!Array.isArray(node)) throw new InvalidPatchError(`a splice needs an array at /${path.join('/')}`)
    if (p.index + p.remove > node.length) throw new PathNotFoundError(key, [...path, p.index + p.remove - 1])
    return
  }
  if (path.length === 0) {
    if (op === 'remove') throw new InvalidPatchError('cannot remove the root; delete the key instead')
    return
  }
  let node: unknown = root
  for (let i = 0; i < path.length - 1; i++) {
    node = childOf(node, path[i]!)
    if (node === undefined) throw new PathNotFoundError(key, path.slice(0, i + 1))
  }
  if (node === null || typeof node !== 'object') throw new PathNotFoundError(key, path.slice(0, -1))
  const last = path[path.length - 1]!
  if (Array.isArray(node)) {
    const idx = typeof last === 'number' ? last : last === '-' ? node.length : Number.NaN
    const max = op === 'add' ? node.length : node.length - 1
    if (!Number.isInteger(idx) || idx < 0 || idx > max) throw new PathNotFoundError(key, path)
  } else if (op !== 'add' && !Object.hasOwn(node, last)) throw new PathNotFoundError(key, path)
}

function childOf(node: unknown, seg: string | number): unknown {
  if (node === null || typeof node !== 'object') return undefined
  if (!Object.hasOwn(node, seg)) return undefined
  return (node as Record<string | number, unknown>)[seg]
}
