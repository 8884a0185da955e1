/**
 * A bare client tab (tab.html), for many-tab tests and the bench (test/e2e/client-tabs.spec.ts,
 * bench/client-tabs.ts): the demo's client, the same way the demo page makes it (a token from the
 * auth endpoint, ?maxLinks=…), without the panels, so that a hundred of them fit on a small
 * machine. It joins, makes its first write, and says how long that took (`window.tab.joinMs`: from
 * start() to the first acknowledged write); the test drives the rest through `window.tab.client`.
 */
import type { MeshClient } from '../src/index.js'
import { readConfig, startBrowserClient, tabUser } from './browser-node.js'

interface TabState {
  user: string
  client?: MeshClient
  joinMs?: number
  error?: string
  /** Its links opening and closing, for a test that fails to say what the tab went through. */
  links: string[]
}

const cfg = readConfig()
const state: TabState = { user: tabUser(), links: [] }
;(window as unknown as { tab: TabState }).tab = state
const status = document.getElementById('status')!
const t0 = performance.now()
try {
  const { client, transport } = await startBrowserClient(cfg, state.user)
  transport.on('peer-up', ({ peer }) => state.links.push(`${Math.round(performance.now())} ms: link to ${peer} open`))
  transport.on('peer-down', ({ peer, reason }) => state.links.push(`${Math.round(performance.now())} ms: link to ${peer} closed (${reason})`))
  state.client = client
  await client.store('demo').put(`tab:${state.user}:joined`, { user: state.user })
  state.joinMs = performance.now() - t0
  status.textContent = `client ${client.nodeId} of user ${state.user}: first write acknowledged ${Math.round(state.joinMs)} ms after start()`
} catch (err) {
  state.error = (err as Error).message
  status.textContent = `failed: ${state.error}`
}
