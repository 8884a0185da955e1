import { describe, expect, it } from 'vitest'
import { checkRegister, type Op } from './linearizability.js'

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
