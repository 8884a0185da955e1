/** A backup's promise to a newer primary: only that primary may send below the promised epoch, until the view catches up. */
import { describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { SyncPromise } from '../../src/replication/epoch-admission.js'

const [old, next, other] = [nodeId('old'), nodeId('next'), nodeId('other')]

describe('sync promise', () => {
  it('holds every sender but the promised one to the promised epoch, until the view reaches it', () => {
    const p = new SyncPromise()
    expect(p.floorFor(old)).toBe(0)
    p.give(next, 5, 3)
    expect(p.floorFor(old)).toBe(5)
    expect(p.floorFor(other)).toBe(5)
    expect(p.floorFor(next)).toBe(0)
    p.settle(4)
    expect(p.floorFor(old)).toBe(5)
    p.settle(5)
    expect(p.floorFor(old)).toBe(0)
  })

  it('keeps only a newer promise than the view and than the last one', () => {
    const p = new SyncPromise()
    p.give(next, 3, 3) // not newer than our own view: nothing promised
    expect(p.floorFor(old)).toBe(0)
    p.give(next, 6, 3)
    p.give(other, 5, 3) // older than the promise already given
    expect(p.floorFor(other)).toBe(6)
    expect(p.floorFor(next)).toBe(0)
  })
})
