/**
 * The schemas messages, stored state and options are checked with: the part of valibot's API the
 * SDK uses, under the same names (`import * as v from '../util/schema.js'`), with the same
 * outputs, written for it. valibot cost browser apps 12 kB minified (4 kB after gzip) for these
 * few functions, a fifth of what was left over the bundle goal (docs/design.md, "The browser
 * bundle"). The difference: a check stops at the first issue (the SDK reports the first anyway),
 * and messages are worded here.
 *
 * A schema's `run` returns the output, or FAIL once it has recorded an issue in the context.
 * The builders are marked free of side effects (as valibot's are), so that a bundler drops a
 * schema a module defines but an app never reaches (the service's half of the topology protocol,
 * in a browser app).
 */

/** What is wrong with an input, and where: the keys from the outermost value in. */
export interface BaseIssue<_T = unknown> {
  message: string
  path?: { key: unknown }[]
}

interface Context {
  issues: BaseIssue[]
  path: unknown[]
}

const FAIL: unique symbol = Symbol('invalid')
type Fail = typeof FAIL

export interface GenericSchema<TOut = unknown> {
  run(input: unknown, ctx: Context): TOut | Fail
}
/** Marks a schema an object's key may be absent for; `fallback` is then its value, if there is one. */
export interface OptionalSchema<TOut> extends GenericSchema<TOut> {
  optional: true
  fallback?: unknown
}
export interface ObjectSchema<E extends Entries> extends GenericSchema<ObjectOutput<E>> {
  entries: E
}

export type InferOutput<S extends GenericSchema<unknown>> = S extends GenericSchema<infer O> ? O : never

type Entries = Record<string, GenericSchema<unknown>>
type Flat<T> = { [K in keyof T]: T[K] } & {}
type ObjectOutput<E extends Entries> = Flat<
  { -readonly [K in keyof E as E[K] extends OptionalSchema<unknown> ? (undefined extends InferOutput<E[K]> ? never : K) : K]: InferOutput<E[K]> } & {
    -readonly [K in keyof E as E[K] extends OptionalSchema<unknown> ? (undefined extends InferOutput<E[K]> ? K : never) : never]?: InferOutput<E[K]>
  }
>
type TupleOutput<T extends readonly GenericSchema<unknown>[]> = { -readonly [K in keyof T]: T[K] extends GenericSchema<infer O> ? O : never }

function issue(ctx: Context, message: string): Fail {
  ctx.issues.push({ message, path: ctx.path.map((key) => ({ key })) })
  return FAIL
}

/** A peer-sent value in a message: numbers and booleans as they are, anything else by its type (it may not even turn into a string). */
const received = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'Array' : typeof x === 'number' || typeof x === 'boolean' ? String(x) : typeof x)
const invalid = (ctx: Context, expected: string, input: unknown): Fail => issue(ctx, `Invalid type: Expected ${expected} but received ${received(input)}`)

/** A schema that takes inputs `test` accepts, as they are. */
/* @__NO_SIDE_EFFECTS__ */
function primitive<T>(expected: string, test: (x: unknown) => boolean): GenericSchema<T> {
  return { run: (x, ctx) => (test(x) ? (x as T) : invalid(ctx, expected, x)) }
}

export const string = /* @__NO_SIDE_EFFECTS__ */ (): GenericSchema<string> => primitive('string', (x) => typeof x === 'string')
export const number = /* @__NO_SIDE_EFFECTS__ */ (): GenericSchema<number> => primitive('number', (x) => typeof x === 'number' && !Number.isNaN(x))
export const boolean = /* @__NO_SIDE_EFFECTS__ */ (): GenericSchema<boolean> => primitive('boolean', (x) => typeof x === 'boolean')
export const unknown = /* @__NO_SIDE_EFFECTS__ */ (): GenericSchema<unknown> => ({ run: (x) => x })
export const literal = /* @__NO_SIDE_EFFECTS__ */ <const T extends string | number | boolean>(value: T): GenericSchema<T> => primitive(JSON.stringify(value), (x) => x === value)
export const picklist = /* @__NO_SIDE_EFFECTS__ */ <const T extends readonly (string | number)[]>(options: T): GenericSchema<T[number]> => primitive(options.map((o) => JSON.stringify(o)).join(' | '), (x) => options.includes(x as T[number]))
export const instance = /* @__NO_SIDE_EFFECTS__ */ <C extends abstract new (...args: never[]) => unknown>(cls: C): GenericSchema<InstanceType<C>> => primitive(cls.name, (x) => x instanceof cls)

/** `schema`, or undefined (an absent key), or with a `fallback`, the fallback for undefined. */
export function optional<S extends GenericSchema<unknown>>(schema: S): OptionalSchema<InferOutput<S> | undefined>
export function optional<S extends GenericSchema<unknown>>(schema: S, fallback: InferOutput<S>): OptionalSchema<InferOutput<S>>
/* @__NO_SIDE_EFFECTS__ */
export function optional(schema: GenericSchema<unknown>, fallback?: unknown): OptionalSchema<unknown> {
  return { optional: true, fallback, run: (x, ctx) => (x === undefined ? fallback : schema.run(x, ctx)) }
}

/** `schema` on `input`, with `key` on the path of its issues. */
function at<T>(schema: GenericSchema<T>, input: unknown, key: unknown, ctx: Context): T | Fail {
  ctx.path.push(key)
  const out = schema.run(input, ctx)
  ctx.path.pop()
  return out
}

/* @__NO_SIDE_EFFECTS__ */
export function array<S extends GenericSchema<unknown>>(item: S): GenericSchema<InferOutput<S>[]> {
  return {
    run(x, ctx) {
      if (!Array.isArray(x)) return invalid(ctx, 'Array', x)
      const out: unknown[] = []
      for (let i = 0; i < x.length; i++) {
        const y = at(item, x[i], i, ctx)
        if (y === FAIL) return FAIL
        out.push(y)
      }
      return out as InferOutput<S>[]
    },
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null

/** The known keys of an object (read with `in`, inherited ones too, as valibot does); others are left out. */
/* @__NO_SIDE_EFFECTS__ */
export function object<const E extends Entries>(entries: E): ObjectSchema<E> {
  return {
    entries,
    run(x, ctx) {
      if (!isObject(x)) return invalid(ctx, 'Object', x)
      const out: Record<string, unknown> = {}
      for (const key in entries) {
        const schema = entries[key]!
        if (!(key in x)) {
          const { optional, fallback } = schema as Partial<OptionalSchema<unknown>>
          if (fallback !== undefined) out[key] = fallback
          if (optional) continue
          ctx.path.push(key)
          return invalid(ctx, 'a value', undefined)
        }
        const y = at(schema, x[key], key, ctx)
        if (y === FAIL) return FAIL
        out[key] = y
      }
      return out as ObjectOutput<E>
    },
  }
}

/** Own keys only, and none that could reach a prototype. */
/* @__NO_SIDE_EFFECTS__ */
export function record<K extends GenericSchema<string>, V extends GenericSchema<unknown>>(key: K, value: V): GenericSchema<Record<InferOutput<K>, InferOutput<V>>> {
  return {
    run(x, ctx) {
      if (!isObject(x)) return invalid(ctx, 'Object', x)
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(x)) {
        if (k === '__proto__' || k === 'prototype' || k === 'constructor') continue
        const kk = at(key, k, k, ctx)
        const y = kk === FAIL ? FAIL : at(value, x[k], k, ctx)
        if (y === FAIL) return FAIL
        out[kk as string] = y
      }
      return out as Record<InferOutput<K>, InferOutput<V>>
    },
  }
}

/* @__NO_SIDE_EFFECTS__ */
function tupleOf(items: readonly GenericSchema<unknown>[], rest: GenericSchema<unknown> | undefined, strict: boolean): GenericSchema<never> {
  return {
    run(x, ctx) {
      if (!Array.isArray(x)) return invalid(ctx, 'Array', x)
      const out: unknown[] = []
      for (let i = 0; i < items.length; i++) {
        const y = at(items[i]!, x[i], i, ctx)
        if (y === FAIL) return FAIL
        out.push(y)
      }
      for (let i = items.length; i < x.length; i++) {
        if (!rest) {
          if (!strict) break
          ctx.path.push(i)
          return issue(ctx, `Invalid length: Expected ${items.length} but received ${x.length}`)
        }
        const y = at(rest, x[i], i, ctx)
        if (y === FAIL) return FAIL
        out.push(y)
      }
      return out as never
    },
  }
}

/** An array whose first items are `items`; any more are left out. */
export const tuple = /* @__NO_SIDE_EFFECTS__ */ <const T extends readonly GenericSchema<unknown>[]>(items: T): GenericSchema<TupleOutput<T>> => tupleOf(items, undefined, false)
/** An array of exactly `items`. */
export const strictTuple = /* @__NO_SIDE_EFFECTS__ */ <const T extends readonly GenericSchema<unknown>[]>(items: T): GenericSchema<TupleOutput<T>> => tupleOf(items, undefined, true)
/** `items`, then any number of `rest`. */
export const tupleWithRest = /* @__NO_SIDE_EFFECTS__ */ <const T extends readonly GenericSchema<unknown>[], R extends GenericSchema<unknown>>(items: T, rest: R): GenericSchema<[...TupleOutput<T>, ...InferOutput<R>[]]> => tupleOf(items, rest, false)

/** The first option that takes the input. */
/* @__NO_SIDE_EFFECTS__ */
export function union<const O extends readonly GenericSchema<unknown>[]>(options: O, message?: string): GenericSchema<InferOutput<O[number]>> {
  return {
    run(x, ctx) {
      for (const option of options) {
        const y = option.run(x, { issues: [], path: [] })
        if (y !== FAIL) return y as InferOutput<O[number]>
      }
      return issue(ctx, message ?? `Invalid type: ${received(x)} matches none of the ${options.length} options`)
    },
  }
}

/** The object schema whose `key` takes the input's `key`. */
/* @__NO_SIDE_EFFECTS__ */
export function variant<K extends string, const O extends readonly ObjectSchema<Entries>[]>(key: K, options: O): GenericSchema<InferOutput<O[number]>> {
  return {
    run(x, ctx) {
      if (!isObject(x)) return invalid(ctx, 'Object', x)
      for (const option of options) if (option.entries[key]!.run(x[key], { issues: [], path: [] }) !== FAIL) return option.run(x, ctx) as InferOutput<O[number]>
      ctx.path.push(key)
      return issue(ctx, `Invalid type: ${received(x[key])} is no known ${key}`)
    },
  }
}

/** A step of a pipe: checks the value (out: undefined), or turns it into another. */
export interface Action<I, O = undefined> {
  run(x: I, ctx: Context): unknown
  transforms?: O
}

/** A check; its issue says `message`, or what `words` make of the input. */
/* @__NO_SIDE_EFFECTS__ */
function check_<I>(test: (x: I) => boolean, message: string | undefined, words: (x: I) => string): Action<I> {
  return { run: (x, ctx) => (test(x) ? x : issue(ctx, message ?? words(x))) }
}

type Sized = { length: number }
export const integer = /* @__NO_SIDE_EFFECTS__ */ (message?: string): Action<number> => check_(Number.isInteger, message, (x) => `Invalid integer: Received ${x}`)
export const minValue = /* @__NO_SIDE_EFFECTS__ */ (min: number, message?: string): Action<number> => check_((x: number) => x >= min, message, (x) => `Invalid value: Expected >=${min} but received ${x}`)
export const maxValue = /* @__NO_SIDE_EFFECTS__ */ (max: number, message?: string): Action<number> => check_((x: number) => x <= max, message, (x) => `Invalid value: Expected <=${max} but received ${x}`)
export const minLength = /* @__NO_SIDE_EFFECTS__ */ (n: number, message?: string): Action<Sized> => check_((x: Sized) => x.length >= n, message, (x) => `Invalid length: Expected >=${n} but received ${x.length}`)
export const maxLength = /* @__NO_SIDE_EFFECTS__ */ (n: number, message?: string): Action<Sized> => check_((x: Sized) => x.length <= n, message, (x) => `Invalid length: Expected <=${n} but received ${x.length}`)
export const length = /* @__NO_SIDE_EFFECTS__ */ (n: number, message?: string): Action<Sized> => check_((x: Sized) => x.length === n, message, (x) => `Invalid length: Expected ${n} but received ${x.length}`)
export const regex = /* @__NO_SIDE_EFFECTS__ */ (re: RegExp, message?: string): Action<string> => check_((x: string) => re.test(x), message, (x) => `Invalid format: Expected ${re} but received ${received(x)}`)
export const check = /* @__NO_SIDE_EFFECTS__ */ <I>(test: (x: I) => boolean, message?: string): Action<I> => check_(test, message, () => 'Invalid input')

export const transform = /* @__NO_SIDE_EFFECTS__ */ <I, O>(fn: (x: I) => O): Action<I, O> => ({ run: (x) => fn(x) })

interface RawTransformContext<I> {
  dataset: { value: I }
  addIssue(info: { message: string }): void
  NEVER: never
}
/** A transform that may refuse its input: addIssue, then return NEVER. */
/* @__NO_SIDE_EFFECTS__ */
export function rawTransform<I, O>(fn: (context: RawTransformContext<I>) => O): Action<I, O> {
  return {
    run(x, ctx) {
      let failed = false
      const out = fn({ dataset: { value: x }, addIssue: ({ message }) => void ((failed = true), issue(ctx, message)), NEVER: FAIL as never })
      return failed ? FAIL : out
    },
  }
}

type S<T> = GenericSchema<T>
/** What follows an action: its output if it transforms, else what went in. */
type Next<T, O> = [O] extends [undefined] ? T : O
/** The schema's output through each action in turn. */
export function pipe<T, O1>(schema: S<T>, a1: Action<NoInfer<T>, O1>): S<Next<T, O1>>
export function pipe<T, O1, O2>(schema: S<T>, a1: Action<NoInfer<T>, O1>, a2: Action<Next<NoInfer<T>, O1>, O2>): S<Next<Next<T, O1>, O2>>
export function pipe<T, O1, O2, O3>(schema: S<T>, a1: Action<NoInfer<T>, O1>, a2: Action<Next<NoInfer<T>, O1>, O2>, a3: Action<Next<Next<NoInfer<T>, O1>, O2>, O3>): S<Next<Next<Next<T, O1>, O2>, O3>>
export function pipe<T, O1, O2, O3, O4>(schema: S<T>, a1: Action<NoInfer<T>, O1>, a2: Action<Next<NoInfer<T>, O1>, O2>, a3: Action<Next<Next<NoInfer<T>, O1>, O2>, O3>, a4: Action<Next<Next<Next<NoInfer<T>, O1>, O2>, O3>, O4>): S<Next<Next<Next<Next<T, O1>, O2>, O3>, O4>>
/* @__NO_SIDE_EFFECTS__ */
export function pipe(schema: S<unknown>, ...actions: Action<unknown, unknown>[]): S<unknown> {
  return {
    run(x, ctx) {
      let y = schema.run(x, ctx)
      for (const a of actions) if (y !== FAIL) y = a.run(y, ctx) as unknown
      return y
    },
  }
}

export type SafeParseResult<T extends GenericSchema<unknown>> =
  | { typed: true; success: true; output: InferOutput<T>; issues: undefined }
  | { typed: boolean; success: false; output: unknown; issues: [BaseIssue, ...BaseIssue[]] }

export function safeParse<T extends GenericSchema<unknown>>(schema: T, input: unknown): SafeParseResult<T> {
  const ctx: Context = { issues: [], path: [] }
  const output = schema.run(input, ctx)
  if (output === FAIL) return { typed: false, success: false, output: input, issues: ctx.issues as [BaseIssue, ...BaseIssue[]] }
  return { typed: true, success: true, output: output as InferOutput<T>, issues: undefined }
}

export const is = <T extends GenericSchema<unknown>>(schema: T, input: unknown): input is InferOutput<T> => safeParse(schema, input).success

/** The issue's path as `a.b.0`, or null at the top. */
export const getDotPath = (issue: BaseIssue): string | null => (issue.path?.length ? issue.path.map((p) => String(p.key)).join('.') : null)

/** What `parse` throws: the first issue, and where. */
export class SchemaError extends Error {
  override name = 'SchemaError'
  constructor(readonly issues: BaseIssue[]) {
    super(`${issues[0]?.message ?? 'invalid'}${getDotPath(issues[0]!) ? ` at ${getDotPath(issues[0]!)}` : ''}`)
  }
}

export function parse<T extends GenericSchema<unknown>>(schema: T, input: unknown): InferOutput<T> {
  const r = safeParse(schema, input)
  if (!r.success) throw new SchemaError(r.issues)
  return r.output
}
