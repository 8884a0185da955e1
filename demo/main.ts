/** The demo app: one browser node per tab, its view of the cluster, and an object editor. */
import type { MeshNode, Patch } from '../src/index.js'
import { readConfig, startBrowserNode, tabNodeId } from './browser-node.js'
import { log, renderDomains, renderTopology } from './render.js'
import { SessionsPanel } from './sessions.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const cfg = readConfig()
let node: MeshNode | undefined
let unsubscribe: (() => void) | undefined
const sessions = new SessionsPanel(() => node)
/** For the end-to-end tests and the browser console: this tab's node and session panel. */
;(window as unknown as { domainmesh: unknown }).domainmesh = { node: () => node, sessions }

function render(): void {
  if (!node) return
  renderTopology(node)
  renderDomains(node)
  sessions.renderServing()
}

async function start(): Promise<void> {
  $<HTMLButtonElement>('start').disabled = true
  $('me').textContent = `joining ${cfg.topologyUrl} …`
  try {
    node = await startBrowserNode(cfg, tabNodeId())
  } catch (err) {
    $('me').textContent = `not joined: ${(err as Error).message}`
    log(`could not join: ${(err as Error).message}`, true)
    $<HTMLButtonElement>('start').disabled = false
    return
  }
  const n = node
  $('me').textContent = `this tab is node ${n.nodeId} in cluster "${n.clusterId}"`
  $<HTMLButtonElement>('stop').disabled = false
  log(`joined as ${n.nodeId}`)
  n.topology.events.on('view', ({ view }) => {
    log(`view ${view.epoch}: ${view.members.map((m) => `${m.nodeId}${m.status === 'down' ? ' (down)' : ''}`).join(', ')}`)
    render()
  })
  n.state.events.on('healing', (p) => {
    $<HTMLProgressElement>('healing').max = Math.max(1, p.domainsTotal)
    $<HTMLProgressElement>('healing').value = p.domainsDone
    $('healing-text').textContent = `${p.domainsDone}/${p.domainsTotal} domains copied by this node, ${p.bytes} bytes, longest lock ${p.maxLockMs} ms`
    if (p.error) log(`copy of domain ${p.domain} to ${p.target} failed: ${(p.error as Error).message}`, true)
  })
  n.state.events.on('role-changed', ({ domain, role }) => log(`domain ${domain}: this tab is now ${role}`))
  n.transport.on('peer-up', ({ peer }) => log(`data channel to ${peer} open`))
  n.transport.on('peer-down', ({ peer, reason }) => log(`data channel to ${peer} closed (${reason})`))
  render()
  await load()
}

async function stop(): Promise<void> {
  if (!node) return
  $<HTMLButtonElement>('stop').disabled = true
  unsubscribe?.()
  await node.close()
  log(`stopped ${node.nodeId}: the cluster sees it down, fails its domains over, and heals after the delay`)
  node = undefined
  $('me').textContent = 'stopped'
  $<HTMLButtonElement>('start').disabled = false
}

function key(): string {
  return $<HTMLInputElement>('key').value.trim()
}

async function load(): Promise<void> {
  if (!node) return
  unsubscribe?.()
  const k = key()
  try {
    const value = await node.store('demo').get(k)
    $<HTMLTextAreaElement>('json').value = value === undefined ? $<HTMLTextAreaElement>('json').value : JSON.stringify(value, null, 2)
    log(value === undefined ? `"${k}" does not exist yet: put it` : `loaded "${k}"`)
  } catch (err) {
    log(`load failed: ${(err as Error).message}`, true)
  }
  unsubscribe = node.store('demo').subscribe(k, (e) => {
    log(`"${e.key}" changed at seq ${e.seq}: ${JSON.stringify(e.change).slice(0, 120)}`)
    void node?.store('demo').get(k).then((v) => ($<HTMLTextAreaElement>('json').value = JSON.stringify(v, null, 2)))
  })
}

/** Runs a write and shows what it cost on the wire (all frames this node sent for it). */
async function measured(what: string, write: () => Promise<{ seq: number; replicas: number }>): Promise<void> {
  if (!node) return
  const before = node.metrics().bytesOut
  try {
    const ack = await write()
    await new Promise((r) => setTimeout(r, 50))
    const bytes = node.metrics().bytesOut - before
    $('wire').textContent = `${what}: acknowledged at seq ${ack.seq} on ${ack.replicas} replicas; this node sent ${bytes} bytes`
  } catch (err) {
    $('wire').textContent = `${what} failed: ${(err as Error).message}`
    log(`${what} failed: ${(err as Error).message}`, true)
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
  void measured('put', () => node!.store('demo').put(key(), value))
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
  void measured(`patch /${path.join('/')}`, () => node!.store('demo').patch(key(), patch))
})
$('stop').addEventListener('click', () => void stop())
$('start').addEventListener('click', () => void start())
setInterval(render, 1000)
void start()
