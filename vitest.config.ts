import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests that spawn processes and open sockets share 2 cores in CI; keep parallelism modest.
    maxWorkers: 2,
  },
})
