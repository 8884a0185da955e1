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
 * A depth-first search over "which operation takes effect next", returned operations tried first.
 * Two reductions keep it small where `checkRegister`'s plain search runs for minutes (a few
 * dozen increments and appends, concurrent or of unknown outcome):
 * - A configuration is the set R of returned operations placed, the set U of unknown ones placed,
 *   and the state. If (R, U, s) failed, so does (R, U', s) for every U' containing U: it has less
 *   left to place, and operations of unknown outcome hold nothing back. Failures are kept per
 *   (R, s) as the minimal sets U.
 * - Operations with the same `twin` have the same step (increments): of the unknown ones only
 *   the earliest called is tried, of the returned ones only the one that returned first, since
 *   each can stand for the others (it is available whenever they are, and bound no later).
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
}

export function checkModel<S>(ops: readonly ModelOp<S>[], initial: S, budget = 1_000_000): CheckResult {
  const sorted = [...ops].sort((a, b) => a.call - b.call)
  const why = () => sorted.map((o) => `#${o.id} ${o.label} [${o.call}, ${o.ret ?? '?'}]`).join('\n')
  const returned = sorted.filter((o) => o.ret !== undefined)
  const unknown = sorted.filter((o) => o.ret === undefined)
  const all = (1n << BigInt(returned.length)) - 1n
  /** Per R and state: the minimal sets U with which the search failed. */
  const failed = new Map<string, bigint[]>()
  let steps = 0
  const search = (r: bigint, u: bigint, state: S): boolean => {
    if (r === all) return true
    if (++steps > budget) throw new Error(`linearizability search budget exceeded (${ops.length} operations, ${unknown.length} of unknown outcome):\n${why()}`)
    const key = `${r}:${JSON.stringify(state) ?? 'undefined'}`
    const f = failed.get(key)
    if (f?.some((x) => (x & ~u) === 0n)) return false
    // An operation may go next only if it was called before every unplaced returned one returned.
    let minRet = Number.POSITIVE_INFINITY
    returned.forEach((o, i) => {
      if (!(r & (1n << BigInt(i)))) minRet = Math.min(minRet, o.ret!)
    })
    const twins = new Map<string, number>()
    for (const [i, o] of returned.entries()) {
      const bit = 1n << BigInt(i)
      if (r & bit) continue
      if (o.call > minRet) break
      if (o.twin !== undefined) {
        const j = twins.get(o.twin)
        if (j !== undefined && returned[j]!.ret! <= o.ret!) continue
        twins.set(o.twin, i)
      }
    }
    for (const [i, o] of returned.entries()) {
      const bit = 1n << BigInt(i)
      if (r & bit) continue
      if (o.call > minRet) break
      if (o.twin !== undefined && twins.get(o.twin) !== i) continue
      const next = o.step(state)
      if (next !== null && search(r | bit, u, next)) return true
    }
    const seen = new Set<string>()
    for (const [i, o] of unknown.entries()) {
      const bit = 1n << BigInt(i)
      if (u & bit) continue
      if (o.call > minRet) break
      if (o.twin !== undefined) {
        if (seen.has(o.twin)) continue
        seen.add(o.twin)
      }
      const next = o.step(state)
      if (next !== null && search(r, u | bit, next)) return true
    }
    failed.set(key, [...(f ?? []).filter((x) => (u & ~x) !== 0n), u])
    return false
  }
  return search(0n, 0n, initial) ? { ok: true } : { ok: false, why: why() }
}
