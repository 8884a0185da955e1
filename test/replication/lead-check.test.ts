/** A primary's lead check: a burst of reads shares one round, and a read never rides on a round that began before it. */
import { describe, expect, it } from 'vitest'
import { LeadCheck } from '../../src/replication/lead-check.js'

describe('lead check', () => {
  it('batches reads: one round for those that arrive while none runs, the next round for those that arrive during one', async () => {
    const rounds: (() => void)[] = []
    const check = new LeadCheck(() => new Promise<void>((resolve) => rounds.push(resolve)))
    const first = check.confirm()
    const duringFirst = [check.confirm(), check.confirm()]
    expect(rounds).toHaveLength(1) // the second and third wait for a round that starts after them
    rounds[0]!()
    await first
    await Promise.resolve()
    await Promise.resolve()
    expect(rounds).toHaveLength(2)
    rounds[1]!()
    await Promise.all(duringFirst)
    expect(rounds).toHaveLength(2)
  })

  it('a round that finds a newer primary rejects its reads; the next reads start a new round', async () => {
    let fail = true
    const check = new LeadCheck(async () => {
      if (fail) throw new Error('deposed')
    })
    await expect(check.confirm()).rejects.toThrow('deposed')
    fail = false
    await expect(check.confirm()).resolves.toBeUndefined()
  })
})
