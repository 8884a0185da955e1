/** The tests' waits are the ones `domainmesh/testing` gives users (src/testing/wait.ts). */
export { sleep, waitFor } from '../../src/testing/wait.js'
