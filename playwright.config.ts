import { defineConfig } from '@playwright/test'

/**
 * End-to-end tests drive Debian's Chromium (Playwright cannot download its own browser here).
 * WebRTC on a machine without a default route needs media permission to gather ICE candidates
 * (--use-fake-ui-for-media-stream) and loopback allowed for peer connections. The tests start
 * their own cluster (test/e2e/cluster.ts); `npm test` runs them inside the private namespace.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export default defineConfig({
  testDir: 'test/e2e',
  testMatch: '*.spec.ts',
  outputDir: 'test-results',
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  use: {
    headless: true,
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-ui-for-media-stream',
        '--allow-loopback-in-peer-connection',
      ],
    },
  },
})
