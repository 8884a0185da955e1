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
