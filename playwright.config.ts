import { defineConfig } from '@playwright/test'

/**
 * End-to-end tests drive Debian's Chromium (Playwright cannot download its own browser here).
 * WebRTC on a machine without a default route needs media permission to gather ICE candidates
 * (--use-fake-ui-for-media-stream) and loopback allowed for peer connections.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results',
  timeout: 120_000,
  workers: 1,
  reporter: [['list']],
  use: {
    headless: true,
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
