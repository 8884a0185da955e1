/**
 * domainmesh/testing — for tests of applications and of third-party adapters (Node, with vitest):
 * the conformance suites every Storage and Transport must pass, and an in-memory cluster.
 *
 * ```ts
 * import { runStorageTests } from 'domainmesh/testing'
 * runStorageTests('MyStorage', async () => ({ open: async () => new MyStorage(), teardown: async () => {} }))
 * ```
 */
export { runStorageTests, type StorageHarness } from './testing/storage.js'
export { runTransportTests, type TransportHarness } from './testing/transport.js'
export { startMemoryCluster, type MemoryCluster, type MemoryClusterOptions } from './testing/cluster.js'
