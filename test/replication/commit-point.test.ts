/** The commit point: own disk and enough backup acks, as `writeAcks` asks, against a sorting model. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { commitPoint } from '../../src/replication/commit-point.js'

describe('commit point', () => {
  it('waits for every live backup with writeAcks all, for the slowest of the needed ones otherwise', () => {
    expect(commitPoint(10, [7, 9], 'all')).toBe(7)
    expect(commitPoint(10, [7, 9], 1)).toBe(9)
    expect(commitPoint(8, [7, 9], 1)).toBe(8) // not past the own disk
    expect(commitPoint(10, [7, 9], 5)).toBe(7) // more asked than live: all of them
    expect(commitPoint(10, [], 'all')).toBe(10) // no backups: the own disk alone
    expect(commitPoint(10, [3, 9], 0)).toBe(10)
  })

  it('is the need-th highest ack, capped by the own disk', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.array(fc.nat(100), { maxLength: 5 }), fc.oneof(fc.constant('all' as const), fc.nat(6)), (disk, acks, writeAcks) => {
        const need = writeAcks === 'all' ? acks.length : Math.min(writeAcks, acks.length)
        const sorted = [...acks].sort((a, b) => b - a)
        expect(commitPoint(disk, acks, writeAcks)).toBe(need === 0 ? disk : Math.min(disk, sorted[need - 1]!))
      }),
    )
  })
})
