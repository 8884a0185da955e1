/** Which epochs a backup takes from whom (src/replication/epoch-admission.ts). */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { admitEpoch } from '../../src/replication/epoch-admission.js'

const p = nodeId('p')
const q = nodeId('q')

describe('admitEpoch', () => {
  it('takes an older epoch from the primary its own view names, and keeps its own epoch', () => {
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, p, 5, 0)).toEqual({ taken: true, epoch: 7, primary: p })
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, p, 9, 0)).toEqual({ taken: true, epoch: 9, primary: p })
  })

  it('refuses an older epoch from any other node, naming the epoch it knows', () => {
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, q, 5, 0)).toEqual({ taken: false, nack: 7 })
    expect(admitEpoch({ role: 'primary', epoch: 7, primary: undefined }, p, 5, 0)).toEqual({ taken: false, nack: 7 })
  })

  it('follows another node that comes with a newer or equal epoch', () => {
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, q, 8, 0)).toEqual({ taken: true, epoch: 8, primary: q })
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: undefined }, q, 7, 0)).toEqual({ taken: true, epoch: 7, primary: q })
  })

  it('refuses even its own primary below what it promised a newer one', () => {
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, p, 7, 9)).toEqual({ taken: false, nack: 9 })
    expect(admitEpoch({ role: 'backup', epoch: 7, primary: p }, p, 9, 9)).toEqual({ taken: true, epoch: 9, primary: p })
  })
})
