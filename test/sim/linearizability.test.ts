import { describe, expect, it } from 'vitest'
import { checkModel, checkRegister, type ModelOp, type Op } from './linearizability.js'

const w = (id: number, value: string, call: number, ret: number | undefined): Op => ({ id, kind: 'write', value, call, ret })
const r = (id: number, value: string | undefined, call: number, ret: number): Op => ({ id, kind: 'read', value, call, ret })

describe('linearizability checker', () => {
  it('accepts sequential and overlapping histories that have a valid order', () => {
    expect(checkRegister([w(1, 'a', 0, 1), r(2, 'a', 2, 3)]).ok).toBe(true)
    expect(checkRegister([w(1, 'a', 0, 5), r(2, 'a', 1, 2), r(3, 'a', 3, 4)]).ok).toBe(true)
    expect(checkRegister([w(1, 'a', 0, 5), r(2, undefined, 1, 2)]).ok).toBe(true)
    expect(checkRegister([w(1, 'a', 0, 1), w(2, 'b', 0, 1), r(3, 'a', 2, 3)]).ok).toBe(true)
  })

  it('rejects a lost acknowledged write and a stale read', () => {
    expect(checkRegister([w(1, 'a', 0, 1), r(2, undefined, 2, 3)]).ok).toBe(false)
    expect(checkRegister([w(1, 'a', 0, 1), w(2, 'b', 2, 3), r(3, 'a', 4, 5)]).ok).toBe(false)
    // Reads may not go back in time.
    expect(checkRegister([w(1, 'a', 0, 10), r(2, 'a', 1, 2), r(3, undefined, 3, 4)]).ok).toBe(false)
  })

  it('lets a write with an unknown outcome take effect late, or never', () => {
    expect(checkRegister([w(1, 'a', 0, undefined), r(2, undefined, 1, 2), r(3, 'a', 5, 6)]).ok).toBe(true)
    expect(checkRegister([w(1, 'a', 0, undefined), r(2, undefined, 5, 6)]).ok).toBe(true)
    expect(checkRegister([w(1, 'a', 0, undefined), r(2, 'a', 1, 2), r(3, undefined, 3, 4)]).ok).toBe(false)
  })
})

describe('model checker', () => {
  type S = { n: number } | undefined
  const inc = (id: number, call: number, ret: number | undefined) => ({ id, label: 'inc', call, ret, step: (s: S) => (s ? { n: s.n + 1 } : null) })
  const read = (id: number, n: number | undefined, call: number, ret: number) => ({ id, label: `read ${n}`, call, ret, step: (s: S) => (s?.n === n ? s : null) })
  const cas = (id: number, from: number, to: number, call: number, ret: number | undefined) => ({ id, label: `cas ${from}->${to}`, call, ret, step: (s: S) => (s?.n === from ? { n: to } : null) })

  it('accepts increments that all land, and a compare-and-set whose condition held', () => {
    expect(checkModel([inc(1, 0, 3), inc(2, 1, 2), read(3, 2, 4, 5)], { n: 0 }).ok).toBe(true)
    expect(checkModel([cas(1, 0, 10, 0, 3), inc(2, 1, 2), read(3, 11, 4, 5)], { n: 0 }).ok).toBe(true)
    expect(checkModel([inc(1, 0, undefined), read(2, 0, 1, 2), read(3, 1, 3, 4)], { n: 0 }).ok).toBe(true)
  })

  it('rejects a lost increment and a compare-and-set applied over a change it did not see', () => {
    expect(checkModel([inc(1, 0, 3), inc(2, 1, 2), read(3, 1, 4, 5)], { n: 0 }).ok).toBe(false)
    // The increment finished before the compare-and-set began, so the condition (n = 0) cannot hold.
    expect(checkModel([inc(1, 0, 1), cas(2, 0, 10, 2, 3), read(3, 10, 4, 5)], { n: 0 }).ok).toBe(false)
    expect(checkModel([read(1, undefined, 0, 1)], { n: 0 }).ok).toBe(false)
  })

  it('decides a history with many writes of unknown outcome, each placeable or not in any order', () => {
    type L = { log: string[]; n: number } | undefined
    const ops: ModelOp<L>[] = []
    ops.push({ id: 0, label: 'put', call: 0, ret: 1, step: () => ({ log: [], n: 0 }) })
    // Five appends and nine increments, each called before the read and never answered.
    for (let i = 1; i <= 14; i++) {
      ops.push(i % 3 === 1 ? { id: i, label: `append ${i}`, call: 1 + i, ret: undefined, step: (s) => (s ? { ...s, log: [...s.log, `x${i}`] } : null) } : { id: i, label: 'inc', twin: 'inc', call: 1 + i, ret: undefined, step: (s) => (s ? { ...s, n: s.n + 1 } : null) })
    }
    const read = (seen: L) => ({ id: 99, label: 'read', call: 50, ret: 51, step: (s: L) => (JSON.stringify(s) === JSON.stringify(seen) ? s : null) })
    // Only the last append and two increments took effect.
    expect(checkModel([...ops, read({ log: ['x10'], n: 2 })], undefined).ok).toBe(true)
    expect(checkModel([...ops, read({ log: ['x10', 'x1', 'x7'], n: 9 })], undefined).ok).toBe(true)
    // Ten increments, where only nine were sent; an append no one made.
    expect(checkModel([...ops, read({ log: [], n: 10 })], undefined).ok).toBe(false)
    expect(checkModel([...ops, read({ log: ['x2'], n: 0 })], undefined).ok).toBe(false)
  })
})

describe('model checker: search order', () => {
  type L = { v: string; log: string[] } | undefined
  const put = (id: number, v: string, call: number, ret: number | undefined): ModelOp<L> => ({ id, label: `put ${v}`, call, ret, step: () => ({ v, log: [] }) })
  const multi = (id: number, v: string, call: number, ret: number | undefined): ModelOp<L> => ({ id, label: `multi ${v}`, call, ret, step: (s) => (s ? { v, log: [...s.log, v] } : null) })
  const append = (id: number, x: string, call: number, ret: number | undefined): ModelOp<L> => ({ id, label: `append ${x}`, call, ret, step: (s) => (s ? { ...s, log: [...s.log, x] } : null) })
  const cas = (id: number, from: string, to: string, call: number, ret: number | undefined): ModelOp<L> => ({ id, label: `cas ${from}->${to}`, call, ret, step: (s) => (s?.v === from ? { ...s, v: to } : null) })
  const read = (id: number, seen: L, call: number, ret: number): ModelOp<L> => ({ id, label: `read ${JSON.stringify(seen)}`, call, ret, observer: true, step: (s) => (JSON.stringify(s) === JSON.stringify(seen) ? s : null) })

  /**
   * The shape of seed 44121's key k3: a multi-path patch returned one tick before a put that
   * must come first, since a compare-and-set long after needs the patch's value. Taking the
   * one due first first leads into a subtree without a linearization, where a dozen concurrent
   * appends go in every order before the search can leave it.
   */
  const trap = (appends: number, last: string[]): ModelOp<L>[] => [
    put(1, 'init', 0, 1),
    multi(2, 'b', 2, 50),
    put(3, 'a', 3, 51),
    ...Array.from({ length: appends }, (_, i) => append(10 + i, `x${i}`, 4 + i, 100 + i)),
    read(4, { v: 'b', log: ['b'] }, 30, 52),
    cas(5, 'b', 'c', 60, 70),
    read(6, { v: 'c', log: ['b', ...last] }, 200, 201),
  ]
  const xs = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`)

  it('leaves an early wrong choice without searching the whole subtree behind it', () => {
    expect(checkModel(trap(12, xs(12)), undefined).ok).toBe(true)
  })

  it('still rejects the same shape when no order fits', () => {
    // An append taken twice.
    expect(checkModel(trap(6, [...xs(6), 'x3']), undefined).ok).toBe(false)
    // The compare-and-set's value lost.
    expect(checkModel([...trap(6, xs(6)).slice(0, -1), read(6, { v: 'b', log: ['b', ...xs(6)] }, 200, 201)], undefined).ok).toBe(false)
  })
})

describe('model checker: operations of unknown outcome', () => {
  type C = { v: string; n: number; log: string[] } | undefined
  const put = (id: number, v: string, call: number, ret: number): ModelOp<C> => ({ id, label: `put ${v}`, call, ret, step: () => ({ v, n: 0, log: [] }) })
  const patch = (id: number, v: string, call: number): ModelOp<C> => ({ id, label: `patch ${v}`, call, ret: undefined, step: (s) => (s ? { ...s, v } : null) })
  const inc = (id: number, call: number): ModelOp<C> => ({ id, label: 'inc', twin: 'inc', call, ret: undefined, step: (s) => (s ? { ...s, n: s.n + 1 } : null) })
  const append = (id: number, x: string, call: number): ModelOp<C> => ({ id, label: `append ${x}`, call, ret: undefined, step: (s) => (s ? { ...s, log: [...s.log, x] } : null) })
  const read = (id: number, seen: C, call: number, ret: number): ModelOp<C> => ({ id, label: `read ${JSON.stringify(seen)}`, call, ret, observer: true, step: (s) => (JSON.stringify(s) === JSON.stringify(seen) ? s : null) })

  /** 16 patches and 16 increments from clients that crashed, 3 appends that timed out: 35 writes that may each have happened, at any time after their call, or not. */
  const crashed: ModelOp<C>[] = [put(1, 'a', 0, 1)]
  for (let i = 0; i < 16; i++) crashed.push(patch(10 + i, `p${i}`, 2 + 2 * i), inc(40 + i, 3 + 2 * i))
  crashed.push(append(70, 'x', 4), append(71, 'y', 5), append(72, 'z', 6))

  it('accepts what some of them, in some order, explain', () => {
    // p7 and nine increments, then p2 (called before p7) and three more, and two of the appends.
    expect(checkModel([...crashed, read(90, { v: 'p7', n: 9, log: ['z'] }, 50, 51), read(91, { v: 'p2', n: 12, log: ['z', 'x'] }, 60, 61)], undefined).ok).toBe(true)
  })

  it('rejects what none of them explain', () => {
    // The counter went down.
    expect(checkModel([...crashed, read(90, { v: 'p7', n: 9, log: [] }, 50, 51), read(91, { v: 'p2', n: 8, log: [] }, 60, 61)], undefined).ok).toBe(false)
    // Seventeen increments, where sixteen were sent.
    expect(checkModel([...crashed, read(90, { v: 'p7', n: 9, log: [] }, 50, 51), read(91, { v: 'p7', n: 17, log: [] }, 60, 61)], undefined).ok).toBe(false)
    // An append undone.
    expect(checkModel([...crashed, read(90, { v: 'p7', n: 9, log: ['y'] }, 50, 51), read(91, { v: 'p7', n: 9, log: ['x'] }, 60, 61)], undefined).ok).toBe(false)
  })
})

describe('model checker: a crashed client that wrote a lot', () => {
  type C = { v: string; log: string[] } | undefined
  const put = (id: number, v: string, call: number, ret: number | undefined): ModelOp<C> => ({ id, label: `put ${v}`, call, ret, step: () => ({ v, log: [] }) })
  const append = (id: number, x: string, call: number, ret: number | undefined): ModelOp<C> => ({ id, label: `append ${x}`, call, ret, step: (s) => (s ? { ...s, log: [...s.log, x] } : null) })
  const cas = (id: number, from: string, to: string, call: number, ret: number | undefined): ModelOp<C> => ({ id, label: `cas ${from}->${to}`, call, ret, step: (s) => (s?.v === from ? { ...s, v: to } : null) })
  const read = (id: number, seen: C, call: number, ret: number): ModelOp<C> => ({ id, label: `read ${JSON.stringify(seen)}`, call, ret, observer: true, step: (s) => (JSON.stringify(s) === JSON.stringify(seen) ? s : null) })

  /**
   * The shape of seed 40161's key k3: ten appends and two puts that may each have happened at
   * any time, then reads that show none did, one more append, and a compare-and-set whose outcome
   * is unknown but which the last read saw. Every state the unknown writes lead to is millions of
   * orders; the search must not list them before it tries the state where none happened.
   */
  const history = (last: C): ModelOp<C>[] => [
    put(1, 'a', 0, 1),
    ...Array.from({ length: 10 }, (_, i) => append(10 + i, `x${i}`, 2 + i, undefined)),
    put(20, 'b', 12, undefined),
    put(21, 'c', 13, undefined),
    read(2, { v: 'a', log: [] }, 30, 31),
    append(3, 'y', 32, 36),
    read(4, { v: 'a', log: ['y'] }, 33, 37),
    cas(5, 'a', 'd', 38, undefined),
    read(6, last, 40, 41),
  ]

  it('finds the order in which almost none of the unknown writes happened', () => {
    expect(checkModel(history({ v: 'd', log: ['y'] }), undefined).ok).toBe(true)
    expect(checkModel(history({ v: 'd', log: ['y', 'x4'] }), undefined).ok).toBe(true)
  })
})
