// Copied into the consumer project as testing/adapter.test.mjs by prepare.mjs, and run there with
// the consumer's own vitest by test/e2e/consumer.spec.ts: what a third-party adapter's author does
// with domainmesh/testing, from the installed package.
import { expect, it } from 'vitest'
import { MemoryNetwork, MemoryStorage } from 'domainmesh'
import { runStorageTests, runTransportTests, startMemoryCluster } from 'domainmesh/testing'

// An adapter stands in for the third party's: storage on a "disk" that outlives each open().
runStorageTests('MemoryStorage on a shared disk', async () => {
  const disk = new Map()
  return { open: async () => new MemoryStorage(disk), teardown: async () => {} }
})

runTransportTests('MemoryNetwork', async () => {
  const net = new MemoryNetwork()
  const made = []
  return {
    create: async () => {
      const t = net.createTransport()
      made.push(t)
      return t
    },
    teardown: async () => {
      for (const t of made) await t.close()
    },
  }
})

it('startMemoryCluster: once it resolves, a write is on both copies and another node reads it', async () => {
  const cluster = await startMemoryCluster()
  try {
    const ack = await cluster.node('n1').store('shop').put('cart:1', { total: 5 })
    expect(ack.replicas).toBe(2)
    expect(await cluster.node('n3').store('shop').get('cart:1')).toEqual({ total: 5 })
  } finally {
    await cluster.close()
  }
})
