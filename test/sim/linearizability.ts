/**
 * A linearizability checker for one register (one key), after Wing & Gong / Porcupine. Each
 * operation has an invocation and a response time on the simulation clock. A write whose outcome
 * is unknown (timed out, primary changed) may take effect at any point after its invocation, or
 * never. A read must return the value of the last write linearized before it.
 */
export interface Op {
  id: number
  kind: 'write' | 'read'
  /** For writes, the value written (unique per write); for reads, the value seen (undefined: absent). */
  value: string | undefined
  call: number
  /** undefined: the outcome is unknown (write only). */
  ret: number | undefined
}

export interface CheckResult {
  ok: boolean
  /** When not ok: the operations that could not be linearized (a short explanation). */
  why?: string
}

export function checkRegister(ops: readonly Op[], initial: string | undefined = undefined, budget = 200_000): CheckResult {
  const done = new Set<string>()
  const sorted = [...ops].sort((a, b) => a.call - b.call)
  let steps = 0
  // DFS over "which op is linearized next", with the set of linearized ops and the value as state.
  const search = (linearized: bigint, value: string | undefined, pending: number): boolean => {
    if (pending === 0) return true
    if (++steps > budget) throw new Error('linearizability search budget exceeded')
    const key = `${linearized}:${value}`
    if (done.has(key)) return false
    // An op may go next if no other unlinearized op finished before it was called.
    let minRet = Number.POSITIVE_INFINITY
    sorted.forEach((o, i) => {
      if (!(linearized & (1n << BigInt(i))) && o.ret !== undefined) minRet = Math.min(minRet, o.ret)
    })
    let mustRemain = 0
    for (const [i, o] of sorted.entries()) {
      const bit = 1n << BigInt(i)
      if (linearized & bit) continue
      if (o.call > minRet) break
      if (o.kind === 'read') {
        if (o.value === value && search(linearized | bit, value, pending - 1)) return true
      } else {
        if (search(linearized | bit, o.value, pending - 1)) return true
        // An unknown-outcome write may also never happen.
        if (o.ret === undefined && search(linearized | bit, value, pending - 1)) return true
      }
      mustRemain++
    }
    done.add(key)
    return false
  }
  const ok = search(0n, initial, sorted.length)
  return ok ? { ok } : { ok, why: describe(sorted) }
}

function describe(ops: readonly Op[]): string {
  return ops.map((o) => `#${o.id} ${o.kind}(${o.value ?? '∅'}) [${o.call}, ${o.ret ?? '?'}]`).join('\n')
}

/**
 * The same question for any sequential model: an operation's `step` says what state it leaves
 * behind when it takes effect in state `s`, or null if it cannot take effect there (a read that
 * saw something else, a compare-and-set whose condition does not hold, a patch of an absent
 * object). An operation of unknown outcome may take effect at any point after its call, or never.
 * States are compared by `JSON.stringify`, so they must be plain data.
 *
 * A depth-first search over "which operation takes effect next" (Wing & Gong, with Lowe's and
 * Porcupine's memo of configurations). A configuration is the set R of returned operations
 * placed, the set U of unknown ones placed, and the state. Reductions:
 * - If (R, U, s) failed, so does (R, U', s) for every U' containing U: it has less left to place,
 *   and operations of unknown outcome hold nothing back. Failures are kept per (R, s) as the
 *   minimal sets U.
 * - Operations of unknown outcome are not placed one order at a time: from a configuration, the
 *   search lists every state those that may go now can lead to, breadth first, each with the
 *   fewest of them (by the rule above, a larger set to the same state cannot do better), and
 *   places a returned operation from each. A crashed client's patches and increments then
 *   cost a state each, not every subset in every order; one that changes nothing is not placed.
 * - Operations with the same `twin` have the same step (increments): of the unknown ones only
 *   the earliest called is tried, of the returned ones only the one that returned first, since
 *   each can stand for the others (it is available whenever they are, and bound no later).
 * - An `observer` (a read) that may go next and accepts the state goes next, without trying the
 *   alternatives: any order that places it later can place it here instead, since it changes
 *   nothing and every operation it would pass may go after it.
 *
 * Search order, which decides how soon a linearizable history is found and so whether it is
 * found within the budget: from the states the unknown operations lead to, the one reached with
 * the fewest of them first, and from each the returned operation due first first (it must go
 * soon). Even so, one early wrong choice (of two writes due one tick apart, the one due first
 * went first, and a compare-and-set much later needed the other order) can lead into a subtree
 * that holds no linearization but takes millions of steps to exhaust: a dozen concurrent
 * appends and increments in every order. So the search runs as limited discrepancy search
 * (Harvey & Ginsberg): first only along the preferred order, then allowing 1, 2, 4, ... choices
 * off it, finally without limit. A subtree cut short by the limit proves nothing and is not
 * remembered as failed; one searched in full is, for every later round. A history is rejected
 * only when a round ran without any cut. The limited rounds together get a tenth of the
 * budget, so a history that is not linearizable costs little more than one full search.
 */
export interface ModelOp<S> {
  id: number
  /** What it did and saw, for the report. */
  label: string
  call: number
  /** undefined: the outcome is unknown (writes only). */
  ret: number | undefined
  step: (s: S) => S | null
  /** Operations with the same `twin` have the same step (see above). */
  twin?: string
  /** Its step returns the state it is given, or null, in every state: it only looks (a read). */
  observer?: boolean
}

/** The rounds' limits on choices off the preferred order; the last has none. */
const DISCREPANCIES = [0, 1, 2, 4, Number.POSITIVE_INFINITY]
/** The share of the budget the limited rounds may use together: the rest is the full search's. */
const LIMITED_SHARE = 0.1

export function checkModel<S>(ops: readonly ModelOp<S>[], initial: S, budget = 1_000_000): CheckResult {
  const sorted = [...ops].sort((a, b) => a.call - b.call)
  const why = () => sorted.map((o) => `#${o.id} ${o.label} [${o.call}, ${o.ret ?? '?'}]`).join('\n')
  // Returned operations in the order they are tried: the one due first, first.
  const returned = sorted.filter((o) => o.ret !== undefined).sort((a, b) => a.ret! - b.ret!)
  const unknown = sorted.filter((o) => o.ret === undefined)
  const all = (1n << BigInt(returned.length)) - 1n
  const show = (s: S) => JSON.stringify(s) ?? 'undefined'
  /** Per R and state: the minimal sets U with which the search failed in full. */
  const failed = new Map<string, bigint[]>()
  /** This round's configurations cut short by the limit, with the most choices left they had then. */
  let cut = new Map<string, number>()
  let steps = 0
  const limitedSteps = budget * LIMITED_SHARE
  const FOUND = 1
  const FAILED = 0
  const CUT = -1
  const over = () => new Error(`linearizability search budget exceeded (${ops.length} operations, ${unknown.length} of unknown outcome):\n${why()}`)
  /** (R, U, s) failed before, or (R, U', s) for some U' within U. */
  const failedBefore = (r: bigint, u: bigint, shown: string) => failed.get(`${r}:${shown}`)?.some((x) => (x & ~u) === 0n) ?? false
  const search = (r: bigint, u: bigint, state: S, left: number): number => {
    if (r === all) return FOUND
    const limited = left !== Number.POSITIVE_INFINITY
    if (limited && steps >= limitedSteps) return CUT
    if (++steps > budget) throw over()
    const shown = show(state)
    if (failedBefore(r, u, shown)) return FAILED
    const cutKey = `${r}:${u}:${shown}`
    if (limited && (cut.get(cutKey) ?? -1) >= left) return CUT
    // An operation may go next only if it was called before every unplaced returned one returned.
    let minRet = Number.POSITIVE_INFINITY
    for (const [i, o] of returned.entries()) {
      if (!(r & (1n << BigInt(i)))) {
        minRet = o.ret!
        break
      }
    }
    const fits = (s: S) => returned.findIndex((o, i) => o.observer && !(r & (1n << BigInt(i))) && o.call <= minRet && o.step(s) !== null)
    const fitting = fits(state)
    if (fitting >= 0) return search(r | (1n << BigInt(fitting)), u, state, left)
    // Every state the unknown operations that may go now lead to, each with the fewest of them:
    // breadth first, so a set is kept only if no smaller one led to the same state. Listed as
    // the search needs them, since the first few often do.
    const reach: { u: bigint; s: S; shown: string; fits: number }[] = [{ u, s: state, shown, fits: -1 }]
    const fewest = new Map<string, bigint[]>([[shown, [u]]])
    const twins = new Set<string>()
    let expanded = 0
    const expand = () => {
      const from = reach[expanded++]!
      twins.clear()
      for (const [i, o] of unknown.entries()) {
        const bit = 1n << BigInt(i)
        if (from.u & bit) continue
        if (o.call > minRet) break
        if (o.twin !== undefined) {
          if (twins.has(o.twin)) continue
          twins.add(o.twin)
        }
        const s = o.step(from.s)
        if (s === null) continue
        const shownNext = show(s)
        const u2 = from.u | bit
        const known = fewest.get(shownNext)
        if (known?.some((x) => (x & ~u2) === 0n) || failedBefore(r, u2, shownNext)) continue
        if (++steps > budget) throw over()
        fewest.set(shownNext, [...(known ?? []), u2])
        reach.push({ u: u2, s, shown: shownNext, fits: fits(s) })
      }
    }
    // From each of those states (the fewest unknown operations first), a returned operation, the
    // one due first first; from a state a read fits, only that read.
    let wasCut = false
    let j = 0
    for (let k = 0; k < reach.length || expanded < reach.length; k++) {
      while (k >= reach.length && expanded < reach.length) expand()
      const from = reach[k]
      if (from === undefined) break
      twins.clear()
      for (const [i, o] of returned.entries()) {
        const bit = 1n << BigInt(i)
        if (r & bit || o.call > minRet || (from.fits >= 0 && from.fits !== i)) continue
        if (o.twin !== undefined) {
          if (twins.has(o.twin)) continue
          twins.add(o.twin)
        }
        const s = o.step(from.s)
        if (s === null) continue
        if (j > 0 && left === 0) {
          wasCut = true
          break
        }
        const res = search(r | bit, from.u, s, j++ > 0 ? left - 1 : left)
        if (res === FOUND) return FOUND
        if (res === CUT) wasCut = true
      }
      if (wasCut && left === 0) break
    }
    if (wasCut) {
      // Only a limited round cuts.
      cut.set(cutKey, left)
      return CUT
    }
    // Every state reached on the way failed too: its every continuation was among those tried.
    for (const from of reach) {
      const key = `${r}:${from.shown}`
      failed.set(key, [...(failed.get(key) ?? []).filter((x) => (from.u & ~x) !== 0n), from.u])
    }
    return FAILED
  }
  let res = CUT
  // The last round has no limit, so it ends found or failed.
  for (const limit of DISCREPANCIES) {
    if (res !== CUT) break
    cut = new Map()
    res = search(0n, 0n, initial, limit)
  }
  return res === FOUND ? { ok: true } : { ok: false, why: why() }
}
