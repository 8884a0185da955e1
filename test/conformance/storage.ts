/** Moved to src/testing (published as domainmesh/testing); kept so the suites' importers need no change. */
export * from '../../src/testing/storage.js'
