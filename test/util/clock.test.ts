import { createHook } from 'node:async_hooks'
import { describe, expect, it } from 'vitest'
import { microtask } from '../../src/util/clock.js'

describe('microtask', () => {
  it('runs after the current code, in order with the other microtasks, before the next macrotask', async () => {
    const order: string[] = []
    setImmediate(() => order.push('immediate'))
    microtask(() => order.push('a'))
    queueMicrotask(() => order.push('b'))
    microtask(() => order.push('c'))
    order.push('sync')
    await new Promise((r) => setImmediate(r))
    expect(order).toEqual(['sync', 'a', 'b', 'c', 'immediate'])
  })

  it('builds no async resource per call, as Node\'s queueMicrotask does', async () => {
    const types: string[] = []
    const hook = createHook({ init: (_id, type) => void types.push(type) }).enable()
    try {
      for (let i = 0; i < 10; i++) microtask(() => undefined)
      await Promise.resolve()
      const ours = types.filter((t) => t === 'Microtask').length
      for (let i = 0; i < 10; i++) queueMicrotask(() => undefined)
      await Promise.resolve()
      expect(ours).toBe(0)
      expect(types.filter((t) => t === 'Microtask').length).toBe(10) // the hook sees them when there are
    } finally {
      hook.disable()
    }
  })
})
