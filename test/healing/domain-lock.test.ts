/** Healing's hold on a domain's writes: writes wait while it is held and go on once it is let go. */
import { describe, expect, it } from 'vitest'
import { DomainLock } from '../../src/healing/domain-lock.js'

describe('DomainLock', () => {
  it('is told when taken and let go, and releases whoever waits', async () => {
    const told: boolean[] = []
    const lock = new DomainLock((locked) => told.push(locked))
    expect(lock.waiting).toBeUndefined()
    const release = lock.take()
    const waiting = lock.waiting
    expect(waiting).toBeInstanceOf(Promise)
    let released = false
    void waiting!.then(() => (released = true))
    await Promise.resolve()
    expect(released).toBe(false)
    release()
    await waiting
    expect(released).toBe(true)
    expect(lock.waiting).toBeUndefined()
    expect(told).toEqual([true, false])
  })
})
