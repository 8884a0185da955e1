/**
 * The schema module (src/util/schema.ts) keeps valibot's outputs where the SDK relies on them:
 * unknown keys left out, an absent optional key absent, fallbacks, exact tuple lengths, no key
 * that reaches a prototype, the first option that fits, and issues that say where.
 */
import { describe, expect, it } from 'vitest'
import * as v from '../../src/util/schema.js'

const Count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10))

describe('schemas', () => {
  it('give an object only its known keys, leave an absent optional key absent, and fill in a fallback', () => {
    const S = v.object({ a: Count, b: v.optional(v.string()), c: v.optional(Count, 7) })
    expect(v.parse(S, { a: 1, extra: true })).toStrictEqual({ a: 1, c: 7 })
    expect(v.parse(S, { a: 1, b: undefined, c: 2 })).toStrictEqual({ a: 1, b: undefined, c: 2 })
    expect(v.is(S, { b: 'x' })).toBe(false)
    expect(v.is(S, { a: 11 })).toBe(false)
    expect(v.is(S, { a: 1.5 })).toBe(false)
    expect(v.is(S, { a: NaN })).toBe(false)
    expect(v.is(S, null)).toBe(false)
  })

  it('say where an issue is, and what', () => {
    const S = v.object({ list: v.array(v.object({ n: Count })) })
    const r = v.safeParse(S, { list: [{ n: 1 }, { n: -1 }] })
    expect(r.success).toBe(false)
    if (r.success) return
    expect(v.getDotPath(r.issues[0])).toBe('list.1.n')
    expect(r.issues[0].message).toMatch(/>=0/)
    expect(() => v.parse(S, { list: 'no' })).toThrow(/Expected Array but received string at list/)
  })

  it('hold tuples to their length: strict ones exactly, others up to their items, rest items each checked', () => {
    expect(v.is(v.strictTuple([v.string(), Count]), ['a', 1])).toBe(true)
    expect(v.is(v.strictTuple([v.string(), Count]), ['a', 1, 2])).toBe(false)
    expect(v.is(v.strictTuple([v.string(), Count]), ['a'])).toBe(false)
    expect(v.parse(v.tuple([v.string()]), ['a', 'more'])).toEqual(['a'])
    expect(v.parse(v.tupleWithRest([v.literal(1)], Count), [1, 2, 3])).toEqual([1, 2, 3])
    expect(v.is(v.tupleWithRest([v.literal(1)], Count), [1, 2, 'x'])).toBe(false)
  })

  it('skip keys that reach a prototype in a record, and check the others', () => {
    const R = v.record(v.string(), Count)
    const out = v.parse(R, JSON.parse('{"__proto__": 1, "constructor": 2, "a": 3}'))
    expect(out).toStrictEqual({ a: 3 })
    expect(v.is(R, { a: 'x' })).toBe(false)
  })

  it('take the first option of a union that fits, and the option of a variant its key names', () => {
    const U = v.union([v.pipe(v.string(), v.transform((s) => s.length)), Count], 'neither')
    expect(v.parse(U, 'abc')).toBe(3)
    expect(v.parse(U, 4)).toBe(4)
    const r = v.safeParse(U, true)
    expect(!r.success && r.issues[0].message).toBe('neither')
    const V = v.variant('type', [v.object({ type: v.literal('a'), n: Count }), v.object({ type: v.literal('b'), s: v.string() })])
    expect(v.parse(V, { type: 'b', s: 'x' })).toEqual({ type: 'b', s: 'x' })
    expect(v.is(V, { type: 'a', s: 'x' })).toBe(false)
    const bad = v.safeParse(V, { type: 'c' })
    expect(!bad.success && v.getDotPath(bad.issues[0])).toBe('type')
  })

  it('run a pipe in order, and stop at an issue: a check, a transform that refuses', () => {
    const Even = v.pipe(
      v.number(),
      v.check((n) => n % 2 === 0, 'odd'),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        if (dataset.value > 100) {
          addIssue({ message: 'too big' })
          return NEVER
        }
        return String(dataset.value)
      }),
    )
    expect(v.parse(Even, 4)).toBe('4')
    expect(() => v.parse(Even, 3)).toThrow('odd')
    expect(() => v.parse(Even, 102)).toThrow('too big')
    expect(v.is(v.pipe(v.string(), v.regex(/^a+$/), v.maxLength(3)), 'aaaa')).toBe(false)
    expect(v.is(v.picklist(['x', 2]), 2)).toBe(true)
    expect(v.is(v.instance(Uint8Array), new Uint8Array(1))).toBe(true)
  })
})
