// Runs before the browser tests: without Chromium they cannot run, so say how to get it.
import { accessSync, constants } from 'node:fs'

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
try {
  accessSync(path, constants.X_OK)
} catch {
  console.error(`The end-to-end tests need Chromium at ${path}, and it is not there.
Install Debian's package (Playwright cannot download its own browser here):
    sudo apt-get update && sudo apt-get install -y chromium
or point CHROMIUM_PATH at another Chromium binary. (.ci/run installs it for CI.)`)
  process.exit(1)
}
