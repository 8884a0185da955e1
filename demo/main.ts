/**
 * The demo app: per tab a client of the cluster (default) or one more member node (?mode=member),
 * its view of the cluster, and an object editor.
 */
import { createClient, domainOf, virtualServerId, type MeshNode, type NodeStatus, type Patch, type Store, type View } from '../src/index.js'
import { encodeValue } from '../src/wire/codec.js'
import { readConfig, startBrowserClient, startBrowserNode, tabNodeId, tabUser, type BrowserClient } from './browser-node.js'
import { ClusterHealing, formatBytes, log, Names, renderDomains, renderMesh, renderTopology, type Observed, type Shown } from './render.js'
import { SessionsPanel, type SessionSource } from './sessions.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const cfg = readConfig()
const member = cfg.mode === 'member'
const myId = member ? tabNodeId() : tabUser()
/**
 * "Stop" is remembered for this tab (sessionStorage): a reload, which vite's client does by
 * itself when `npm start` restarts, must not bring a stopped node back.
 */
const STOPPED_KEY = member ? `domainmesh-demo-stopped:${myId}` : `domainmesh-demo-stopped-client:${myId}`
const BULK = 10_000
/** Member mode: this tab's node. */
let node: MeshNode | undefined
/** Client mode: this tab's client. */
let tab: BrowserClient | undefined
/** What was shown before the tab stopped: its last view stays on screen, marked stale. */
let lastShown: Shown | undefined
let unsubscribe: (() => void) | undefined
let disconnectedAt: number | undefined
let polling = false
const sessions = new SessionsPanel(sessionSource)
const observed: Observed = { names: new Names(), downSince: new Map(), healDelayMs: undefined, status: new Map(), now: Date.now() }
const healing = new ClusterHealing()
/** For the end-to-end tests and the browser console: this tab's node or client, and its session panel. */
;(window as unknown as { domainmesh: unknown }).domainmesh = { mode: cfg.mode, node: () => node, client: () => tab?.client, sessions }
document.body.classList.add(member ? 'member-mode' : 'client-mode')
$('mode').textContent = member ? 'member tab' : 'client tab'
if (!member) {
  $('stop').textContent = 'Stop this client'
  $('start').textContent = 'Start this client'
}

/** The panels' source: the running node or client. */
function shown(): Shown | undefined {
  if (node) return { nodeId: node.nodeId, settings: node.settings, topology: node.topology, links: () => node?.transport.peers() ?? [] }
  if (tab) {
    const { client } = tab
    return { nodeId: client.nodeId, settings: client.settings, topology: client.topology, links: () => client.linkedMembers, client: { maxLinks: cfg.maxLinks, subject: client.subject } }
  }
  return undefined
}

function running(): boolean {
  return node !== undefined || tab !== undefined
}

function store(): Store | undefined {
  return node?.store('demo') ?? tab?.client.store('demo')
}

/** Bytes this tab sent so far, on all its data channels. */
function bytesOut(): number {
  return node ? node.metrics().bytesOut : (tab?.transport.stats.bytesOut ?? 0)
}

function sessionSource(): SessionSource | undefined {
  if (node) {
    const n = node
    return { self: n.nodeId, owner: n.nodeId, view: () => n.topology.view(), make: (serving) => createClient({ node: n, virtualServer: 'demo', clientId: `${n.nodeId}-client`, serving }) }
  }
  if (tab) {
    const c = tab.client
    // The client id is `<user>:<random>`: members bind the sessions to the token's subject.
    return { self: c.nodeId, owner: c.subject, view: () => c.topology.view(), make: (serving) => c.sessions({ virtualServer: 'demo', serving }) }
  }
  return undefined
}

/** Says, above everything, when what the page shows is not the live cluster. */
function renderBanner(): void {
  const banner = $('banner')
  const what = member ? 'node' : 'client'
  let text = ''
  if (!running() && lastShown) text = `This ${what} is stopped. Below is the last view it had of the cluster, frozen when it stopped: it is not live. Start the ${what} to ${member ? 'rejoin' : 'connect again'}.`
  else if (!running()) text = sessionStorage.getItem(STOPPED_KEY) ? `This ${what} is stopped (it stays stopped across reloads until you start it).` : member ? 'This node has not joined the cluster.' : 'This client is not connected to the cluster.'
  else if (disconnectedAt !== undefined)
    text = `Disconnected from the topology service since ${new Date(disconnectedAt).toLocaleTimeString()} (reconnecting). The cluster view below is what it was then and may be stale: members may have gone down or come back since.`
  else if (node && node.topology.view().members.some((m) => m.nodeId === node!.nodeId && m.status === 'down')) text = 'The cluster sees this node as down (it missed heartbeats): its domains are failing over to others.'
  banner.textContent = text
  banner.hidden = text === ''
  document.body.classList.toggle('stale', text !== '')
}

function render(): void {
  observed.now = Date.now()
  renderBanner()
  const n = shown() ?? lastShown
  if (!n) return
  const view = n.topology.view()
  observed.names.see(view.members.map((m) => m.nodeId))
  renderTopology(n, observed)
  renderDomains(n, observed)
  renderMesh(n, observed)
  if (node) {
    // This node's own figures fresh; the others' as they last answered (poll, every second).
    observed.status.set(node.nodeId, node.status())
  }
  if (running()) {
    healing.render(view, n.settings, observed, member)
    sessions.renderServing()
  }
}

/**
 * A member tab asks every member that is up for its links and healing; a member that does not
 * answer in time is left out. A client tab does not: members refuse `status` to clients.
 */
async function poll(): Promise<void> {
  const n = node
  if (!n || polling) return
  polling = true
  try {
    const up = n.topology.view().members.filter((m) => m.status === 'up').map((m) => m.nodeId)
    const answers = await Promise.all(
      up.map(async (id): Promise<[string, NodeStatus | undefined]> => {
        if (id === n.nodeId) return [id, n.status()]
        const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 1500))
        return [id, await Promise.race([n.statusOf(id).catch(() => undefined), timeout])]
      }),
    )
    observed.status.clear()
    for (const [id, s] of answers) if (s) observed.status.set(id, s)
  } finally {
    polling = false
  }
}

/** One log line per membership change (not one per view), and the members' down times for the countdown. */
function onView(prev: View, view: View): void {
  const before = new Map(prev.members.map((m) => [m.nodeId, m.status] as const))
  const now = new Map(view.members.map((m) => [m.nodeId, m.status] as const))
  for (const [id, status] of now) {
    const was = before.get(id)
    if (status === 'down' && !observed.downSince.has(id)) observed.downSince.set(id, prev.epoch > 0 && was !== 'down' ? Date.now() : undefined)
    if (status === 'up') observed.downSince.delete(id)
    if (prev.epoch === 0 || was === status) continue
    if (was === undefined) log(`${id} joined`)
    else log(status === 'down' ? `${id} is down: its domains fail over; healing in ${Math.round((observed.healDelayMs ?? 0) / 1000)} s unless it returns` : `${id} is back up`)
  }
  for (const id of before.keys()) {
    if (!now.has(id)) {
      observed.downSince.delete(id)
      log(`${id} left the view: healing copies its domains to the others`)
    }
  }
}

async function start(): Promise<void> {
  if (!member) return startClient()
  $<HTMLButtonElement>('start').disabled = true
  sessionStorage.removeItem(STOPPED_KEY)
  $('me').textContent = `joining ${cfg.topologyUrl} …`
  try {
    node = await startBrowserNode(cfg, myId)
  } catch (err) {
    $('me').textContent = `not joined: ${(err as Error).message}`
    log(`could not join: ${(err as Error).message}`, true)
    $<HTMLButtonElement>('start').disabled = false
    return
  }
  const n = node
  lastShown = undefined
  disconnectedAt = undefined
  observed.healDelayMs = n.topologyClient?.healDelayMs
  $('me').textContent = `this tab is node ${n.nodeId} in cluster "${n.clusterId}"`
  $<HTMLButtonElement>('stop').disabled = false
  $<HTMLButtonElement>('bulk').disabled = false
  log(`joined as ${n.nodeId}`)
  let prev: View = { epoch: 0, members: [] }
  onView(prev, n.topology.view())
  prev = n.topology.view()
  n.topology.events.on('view', ({ view }) => {
    onView(prev, view)
    prev = view
    render()
  })
  n.topologyClient?.events.on('disconnected', () => {
    disconnectedAt ??= Date.now()
    render()
  })
  n.topologyClient?.events.on('connected', () => {
    disconnectedAt = undefined
    render()
  })
  n.events.on('healing', (p) => {
    $<HTMLProgressElement>('healing').max = Math.max(1, p.domainsTotal)
    $<HTMLProgressElement>('healing').value = p.domainsDone
    $('healing-text').textContent = `${p.inProgress ? 'copying' : `last round (${new Date().toLocaleTimeString()})`}: ${p.domainsDone}/${p.domainsTotal} domain copies, ${formatBytes(p.bytes)}, writes held back at most ${p.maxLockMs} ms`
    if (p.error) log(`copy of domain ${p.domain} to ${p.target} failed: ${(p.error as Error).message}; will retry`, true)
  })
  let gained = 0
  n.events.on('role-changed', ({ role }) => {
    // Told per domain; said once per view (the view listener runs after these).
    if (role === 'primary') gained++
    queueMicrotask(() => {
      if (gained) log(`this tab now leads ${gained} more domain${gained === 1 ? '' : 's'}`)
      gained = 0
    })
  })
  n.transport.on('peer-up', ({ peer }) => log(`data channel to ${peer} open`))
  n.transport.on('peer-down', ({ peer, reason }) => log(`data channel to ${peer} closed (${reason})`))
  render()
  await load()
}

/** A client tab: a token for this tab's user from the auth endpoint, then the cluster, without the secret. */
async function startClient(): Promise<void> {
  $<HTMLButtonElement>('start').disabled = true
  sessionStorage.removeItem(STOPPED_KEY)
  $('me').textContent = `connecting to ${cfg.topologyUrl} as user ${myId} …`
  try {
    tab = await startBrowserClient(cfg, myId)
  } catch (err) {
    $('me').textContent = `not connected: ${(err as Error).message}`
    log(`could not connect: ${(err as Error).message}`, true)
    $<HTMLButtonElement>('start').disabled = false
    return
  }
  const { client, transport } = tab
  lastShown = undefined
  $('me').textContent = `this tab is client ${client.nodeId} of user ${client.subject} in cluster "${client.clusterId}"`
  $<HTMLButtonElement>('stop').disabled = false
  $<HTMLButtonElement>('bulk').disabled = false
  log(`connected as ${client.nodeId} (user ${client.subject}): no replicas here, links to at most ${cfg.maxLinks} members`)
  let prev: View = { epoch: 0, members: [] }
  onView(prev, client.topology.view())
  prev = client.topology.view()
  client.events.on('view', ({ view }) => {
    onView(prev, view)
    prev = view
    render()
  })
  client.events.on('error', ({ error }) => log(`token refresh failed: ${(error as Error).message}`, true))
  transport.on('peer-up', ({ peer }) => log(`link to member ${peer} open`))
  transport.on('peer-down', ({ peer, reason }) => log(`link to member ${peer} closed (${reason})`))
  render()
  await load()
}

async function stop(): Promise<void> {
  if (!running()) return
  $<HTMLButtonElement>('stop').disabled = true
  $<HTMLButtonElement>('bulk').disabled = true
  sessionStorage.setItem(STOPPED_KEY, '1')
  unsubscribe?.()
  lastShown = shown()
  if (tab) {
    const { client } = tab
    tab = undefined
    await client.close()
    log(`stopped client ${client.nodeId}: members drop its links and subscriptions; the cluster itself does not change. It stays stopped, across reloads too, until you start it.`)
    $('me').textContent = 'stopped'
    $<HTMLButtonElement>('start').disabled = false
    render()
    return
  }
  const n = node!
  node = undefined
  observed.status.clear()
  await n.close()
  log(`stopped ${n.nodeId}: the cluster sees it down, fails its domains over, and heals after the delay. It stays stopped, across reloads too, until you start it.`)
  $('me').textContent = 'stopped'
  $<HTMLButtonElement>('start').disabled = false
  render()
}

function key(): string {
  return $<HTMLInputElement>('key').value.trim()
}

async function load(): Promise<void> {
  const s = store()
  if (!s) return
  unsubscribe?.()
  const k = key()
  try {
    const value = await s.get(k)
    $<HTMLTextAreaElement>('json').value = value === undefined ? $<HTMLTextAreaElement>('json').value : JSON.stringify(value, null, 2)
    log(value === undefined ? `"${k}" does not exist yet: put it` : `loaded "${k}"`)
  } catch (err) {
    log(`load failed: ${(err as Error).message}`, true)
  }
  unsubscribe = s.subscribe(k, (e) => {
    log(`"${e.key}" changed at seq ${e.seq}: ${JSON.stringify(e.change).slice(0, 120)}`)
    void store()?.get(k).then((v) => ($<HTMLTextAreaElement>('json').value = JSON.stringify(v, null, 2)))
  })
}

/** Runs a write and returns what this tab sent for it (all its frames meanwhile). */
async function measured(what: string, write: () => Promise<{ seq: number; replicas: number }>): Promise<{ bytes: number; seq: number; replicas: number } | undefined> {
  if (!running()) return undefined
  const before = bytesOut()
  try {
    const ack = await write()
    await new Promise((r) => setTimeout(r, 50))
    return { ...ack, bytes: bytesOut() - before }
  } catch (err) {
    $('wire').textContent = `${what} failed: ${(err as Error).message}`
    log(`${what} failed: ${(err as Error).message}`, true)
    return undefined
  }
}

/** Writes BULK objects, 64 at a time, so that a node going down leaves healing something to copy. */
async function bulkLoad(): Promise<void> {
  const n = store()
  if (!n) return
  const running = () => store() !== undefined
  const button = $<HTMLButtonElement>('bulk')
  button.disabled = true
  const status = $('bulk-status')
  const started = Date.now()
  let next = 0
  let done = 0
  const text = 'x'.repeat(100)
  try {
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < BULK && running()) {
          const i = next++
          await n.put(`bulk:${String(i).padStart(5, '0')}`, { i, text, at: started })
          if (++done % 500 === 0 || done === BULK) status.textContent = `${done.toLocaleString('en')}/${BULK.toLocaleString('en')} objects written`
        }
      }),
    )
    status.textContent = `${done.toLocaleString('en')} objects written in ${((Date.now() - started) / 1000).toFixed(1)} s: stop a node (or close a tab) to watch them heal`
    log(`loaded ${done} objects`)
  } catch (err) {
    status.textContent = `stopped after ${done} objects: ${(err as Error).message}`
    log(`load of ${BULK} objects failed: ${(err as Error).message}`, true)
  } finally {
    button.disabled = !running()
  }
}

$('load-form').addEventListener('submit', (e) => {
  e.preventDefault()
  void load()
})
$('put').addEventListener('click', () => {
  let value: unknown
  try {
    value = JSON.parse($<HTMLTextAreaElement>('json').value)
  } catch (err) {
    return log(`not JSON: ${(err as Error).message}`, true)
  }
  void measured('put', () => store()!.put(key(), value)).then((m) => {
    if (m) $('wire').textContent = `put: acknowledged at seq ${m.seq} on ${m.replicas} replicas; this ${member ? 'node' : 'tab'} sent ${formatBytes(m.bytes)} (the whole object is ${formatBytes(encodeValue(value).length)} encoded)`
  })
})
$('patch-form').addEventListener('submit', (e) => {
  e.preventDefault()
  let value: unknown
  try {
    value = JSON.parse($<HTMLInputElement>('value').value)
  } catch (err) {
    return log(`value is not JSON: ${(err as Error).message}`, true)
  }
  const path = $<HTMLInputElement>('path').value.split('.').filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  const patch: Patch[] = [{ op: 'replace', path, value }]
  const s = store()
  const n = node
  void measured(`patch /${path.join('/')}`, () => s!.patch(key(), patch)).then(async (m) => {
    if (!m || !s) return
    // A put sends the whole object where the patch sent its operations, once per copy this tab
    // sent (to the primary, or to each backup when this node is the primary; a client sends one).
    const whole = await s.get(key())
    const extra = Math.max(0, encodeValue(whole).length - encodeValue(patch).length)
    const leads = n !== undefined && n.state.placement(domainOf(virtualServerId('demo'), key(), n.settings.domainCount)).primary === n.nodeId
    const copies = leads ? Math.max(1, m.replicas - 1) : 1
    $('wire').textContent = `patch /${path.join('/')}: acknowledged at seq ${m.seq} on ${m.replicas} replicas; this ${member ? 'node' : 'tab'} sent ${formatBytes(m.bytes)}. A put of the whole object would have sent about ${formatBytes(m.bytes + copies * extra)}.`
  })
})
$('stop').addEventListener('click', () => void stop())
$('start').addEventListener('click', () => void start())
$('bulk').addEventListener('click', () => void bulkLoad())
$('bulk').textContent = `Load ${BULK.toLocaleString('en')} objects`
setInterval(() => {
  render()
  if (member) void poll()
}, 1000)
if (sessionStorage.getItem(STOPPED_KEY)) {
  $('me').textContent = 'stopped'
  $<HTMLButtonElement>('start').disabled = false
  $<HTMLButtonElement>('stop').disabled = true
  log('this node was stopped before the page reloaded: it stays stopped until you start it')
  render()
} else void start()
