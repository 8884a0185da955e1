/**
 * Hand-written fast paths in front of the schemas (util/schema.ts), for the few message shapes that
 * carry nearly all the traffic (appends, acks, writes, log entries). Under load, valibot's datasets
 * (the schemas' library then), issue lists and output copies were a large share of everything a
 * replica allocated, and collecting them a large share of its CPU (docs/design.md, "Numbers
 * behind the code").
 *
 * An `accept` function returns exactly what the schema would output, or undefined when the input
 * is not one of its common shapes: the schema then decides, and words the error. It may decline
 * more than the schema refuses, never accept what the schema refuses; a property test holds each
 * one to that (test/wire/fast-path.test.ts).
 */
import * as v from '../util/schema.js'

export type Accept<T> = (input: unknown) => T | undefined

/** `accept`'s output if it takes `input`, else the schema's verdict. */
export function parseFast<S extends v.GenericSchema>(schema: S, accept: Accept<v.InferOutput<S>> | undefined, input: unknown): v.SafeParseResult<S> {
  const out = accept?.(input)
  if (out !== undefined) return { typed: true, success: true, output: out, issues: undefined }
  return v.safeParse(schema, input)
}

/** Number.isInteger and at least `min`: the schemas' pipe(number(), integer(), minValue(min)). */
export function isInteger(x: unknown, min: number, max = Infinity): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max
}

/** Every element of an array through `accept`, or undefined if it is not an array or one is declined. */
export function acceptAll<T>(input: unknown, accept: Accept<T>, maxLength = Infinity): T[] | undefined {
  if (!Array.isArray(input) || input.length > maxLength) return undefined
  const out: T[] = []
  for (const x of input as unknown[]) {
    const y = accept(x)
    if (y === undefined) return undefined
    out.push(y)
  }
  return out
}

/** `input` as a record if it is a non-null object: v.object reads its keys with `in`, inherited ones too, and so do the fast paths. */
export const asObject = (input: unknown): Record<string, unknown> | undefined => (typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : undefined)
