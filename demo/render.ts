/** Draws the panels from the node's current view and state. Plain DOM and SVG, no framework. */
import { domainRoles, type ClusterSettings, type NodeId, type NodeStatus, type View } from '../src/index.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const SVG = 'http://www.w3.org/2000/svg'

/** Distinct colours (Tableau 10 without its red, which marks under-replicated domains), then more. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f', '#bab0ac', '#8cd17d', '#a0cbe8', '#ffbe7d']
const DARK = new Set(['#4e79a7', '#59a14f', '#b07aa1', '#9c755f'])

/**
 * A short name (A, B, C, …) and a colour per node, given in the order this page first sees the
 * nodes (sorted within one view), and kept while the page lives: the legend says who is who.
 */
export class Names {
  private readonly names = new Map<string, number>()

  see(ids: readonly string[]): void {
    for (const id of [...ids].sort()) if (!this.names.has(id)) this.names.set(id, this.names.size)
  }

  alias(id: string): string {
    const i = this.names.get(id) ?? 0
    return i < 26 ? String.fromCharCode(65 + i) : `N${i}`
  }

  colour(id: string): string {
    return PALETTE[(this.names.get(id) ?? 0) % PALETTE.length]!
  }

  ink(id: string): string {
    return DARK.has(this.colour(id)) ? 'white' : '#1d2433'
  }
}

/** What the page knows beyond the view: when it saw members go down, and what the others report. */
export interface Observed {
  names: Names
  /** Member → when this page first saw it down (its clock), or undefined when it was down before the page joined. */
  downSince: Map<string, number | undefined>
  healDelayMs: number | undefined
  /** Status each member last answered (links and healing), this node's own included. */
  status: Map<string, NodeStatus>
  now: number
}

/**
 * What the panels are drawn from: a member tab's node, or a client tab's client. A client knows
 * the view it follows (members, owners and primaries per domain) and its own links, nothing of a
 * member's replicas or links (members refuse `status` to clients).
 */
export interface Shown {
  nodeId: NodeId
  settings: ClusterSettings
  topology: { view(): View }
  /** Whom this tab has an open data channel to. */
  links(): readonly NodeId[]
  /** Set for a client tab: its cap on links. */
  client?: { maxLinks: number; subject: string }
}

function chip(names: Names, id: string): HTMLElement {
  const span = document.createElement('span')
  span.className = 'chip'
  span.textContent = names.alias(id)
  span.style.background = names.colour(id)
  span.style.color = names.ink(id)
  return span
}

/** "down · healing in 4 s", or what follows once the delay is over. */
export function downText(o: Observed, id: string): string {
  if (o.healDelayMs === undefined) return 'down'
  const since = o.downSince.get(id)
  if (since === undefined) return `down · healing within ${Math.ceil(o.healDelayMs / 1000)} s`
  const left = o.healDelayMs - (o.now - since)
  return left > 0 ? `down · healing in ${Math.ceil(left / 1000)} s` : 'down · healing now'
}

export function renderTopology(node: Shown, o: Observed): void {
  const view = node.topology.view()
  $('epoch').textContent = `view epoch ${view.epoch}`
  const leads = new Map<string, number>()
  const backs = new Map<string, number>()
  for (let d = 0; d < node.settings.domainCount; d++) {
    const r = domainRoles(view, node.settings, d)
    if (r.primary) leads.set(r.primary, (leads.get(r.primary) ?? 0) + 1)
    for (const b of r.backups) backs.set(b, (backs.get(b) ?? 0) + 1)
  }
  const rows = view.members.map((m) => {
    const tr = document.createElement('tr')
    tr.dataset.node = m.nodeId
    const name = document.createElement('td')
    name.append(chip(o.names, m.nodeId), ` ${m.nodeId}${m.nodeId === node.nodeId ? ' (this tab)' : ''}`)
    // A member tab: how many links each member reports. A client tab: whether it has one to it.
    const links = node.client ? (node.links().includes(m.nodeId) ? 'this tab' : '–') : m.status === 'up' && o.status.get(m.nodeId) ? String(o.status.get(m.nodeId)!.peers.length) : '–'
    const cells = [m.status === 'down' ? downText(o, m.nodeId) : 'up', m.durable ? 'durable' : 'ephemeral', String(leads.get(m.nodeId) ?? 0), String(backs.get(m.nodeId) ?? 0), links]
    tr.append(name)
    cells.forEach((text, i) => {
      const td = document.createElement('td')
      td.textContent = text
      if (i === 0) td.className = m.status
      tr.append(td)
    })
    return tr
  })
  $('members').querySelector('tbody')!.replaceChildren(...rows)
}

export interface DomainCounts {
  under: number
  copying: number
  noPrimary: number
}

export function renderDomains(node: Shown, o: Observed): DomainCounts {
  const view = node.topology.view()
  const down = new Set(view.members.filter((m) => m.status === 'down').map((m) => m.nodeId))
  const counts: DomainCounts = { under: 0, copying: 0, noPrimary: 0 }
  const cells = []
  for (let d = 0; d < node.settings.domainCount; d++) {
    const r = domainRoles(view, node.settings, d)
    const live = r.owners.filter((owner) => !down.has(owner)).length
    const isUnder = live < Math.min(node.settings.replicas, view.members.length)
    if (isUnder) counts.under++
    if (r.healing.length) counts.copying++
    if (!r.primary) counts.noPrimary++
    const cell = document.createElement('div')
    cell.className = `cell${isUnder ? ' under' : ''}${r.healing.length ? ' healing' : ''}${r.primary ? '' : ' orphan'}`
    cell.dataset.domain = String(d)
    if (r.primary) {
      cell.style.background = o.names.colour(r.primary)
      cell.style.color = o.names.ink(r.primary)
    }
    cell.title = `domain ${d}\nprimary ${r.primary ?? 'none'}\nbackups ${r.backups.join(', ') || 'none'}\nowners ${r.owners.join(', ')}${r.healing.length ? `\nbeing copied to ${r.healing.join(', ')}` : ''}`
    const num = document.createElement('b')
    num.textContent = String(d)
    // Primary, then backups after "+", then copies being made after "→": readable without hovering.
    const who = document.createElement('span')
    who.className = 'who'
    who.textContent = `${r.primary ? o.names.alias(r.primary) : '?'}${r.backups.length ? '+' + r.backups.map((b) => o.names.alias(b)).join('') : ''}${r.healing.length ? '→' + r.healing.map((h) => o.names.alias(h)).join('') : ''}`
    cell.append(num, who)
    cells.push(cell)
  }
  $('domain-map').replaceChildren(...cells)
  $('domain-summary').textContent = `${node.settings.domainCount} domains × ${node.settings.replicas} replicas · ${counts.under} under-replicated · ${counts.copying} being copied${counts.noPrimary ? ` · ${counts.noPrimary} without a primary` : ''}`
  renderLegend(view, o)
  return counts
}

function renderLegend(view: View, o: Observed): void {
  const items = view.members.map((m) => {
    const li = document.createElement('li')
    li.dataset.node = m.nodeId
    li.append(chip(o.names, m.nodeId), ` ${m.nodeId}${m.status === 'down' ? ' (down)' : ''}`)
    return li
  })
  $('legend-nodes').replaceChildren(...items)
}

/**
 * The mesh: each member on a circle, a line for each data channel. A channel both ends report is
 * solid; one only one end reports (still opening, or closing) is dashed. This node's own links
 * come from its transport; the others' from what they answered to `status`. A client tab is drawn
 * in the middle with its own links only: it cannot ask members for theirs.
 */
export function renderMesh(node: Shown, o: Observed): void {
  if (node.client) return renderClientLinks(node, node.client.maxLinks, o)
  const view = node.topology.view()
  const svg = $('mesh') as unknown as SVGSVGElement
  const members = view.members
  const w = 320
  const h = 220
  const r = Math.min(w, h) / 2 - 28
  const pos = new Map<string, { x: number; y: number }>()
  members.forEach((m, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, members.length) - Math.PI / 2
    pos.set(m.nodeId, { x: w / 2 + r * Math.cos(a), y: h / 2 + r * Math.sin(a) })
  })
  const reports = new Map<string, Set<string>>()
  for (const m of members) {
    const peers = m.nodeId === node.nodeId ? node.links() : o.status.get(m.nodeId)?.peers
    if (peers && m.status === 'up') reports.set(m.nodeId, new Set(peers))
  }
  const parts: Element[] = []
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i]!.nodeId
      const b = members[j]!.nodeId
      const ab = reports.get(a)?.has(b) ?? false
      const ba = reports.get(b)?.has(a) ?? false
      if (!ab && !ba) continue
      const line = document.createElementNS(SVG, 'line')
      const pa = pos.get(a)!
      const pb = pos.get(b)!
      line.setAttribute('x1', String(pa.x))
      line.setAttribute('y1', String(pa.y))
      line.setAttribute('x2', String(pb.x))
      line.setAttribute('y2', String(pb.y))
      line.setAttribute('class', ab && ba ? 'link' : 'link half')
      line.dataset.ends = [a, b].sort().join(' ')
      parts.push(line)
    }
  }
  for (const m of members) {
    const p = pos.get(m.nodeId)!
    const g = document.createElementNS(SVG, 'g')
    g.setAttribute('class', `member ${m.status}${m.nodeId === node.nodeId ? ' self' : ''}`)
    g.dataset.node = m.nodeId
    const c = document.createElementNS(SVG, 'circle')
    c.setAttribute('cx', String(p.x))
    c.setAttribute('cy', String(p.y))
    c.setAttribute('r', '15')
    c.setAttribute('fill', m.status === 'up' ? o.names.colour(m.nodeId) : '#e5e7eb')
    const t = document.createElementNS(SVG, 'text')
    t.setAttribute('x', String(p.x))
    t.setAttribute('y', String(p.y + 4))
    t.setAttribute('fill', m.status === 'up' ? o.names.ink(m.nodeId) : '#b42318')
    t.textContent = o.names.alias(m.nodeId)
    const label = document.createElementNS(SVG, 'text')
    label.setAttribute('class', 'label')
    label.setAttribute('x', String(p.x))
    label.setAttribute('y', String(p.y + (p.y > h / 2 ? 28 : -20)))
    label.textContent = m.nodeId
    g.append(c, t, label)
    parts.push(g)
  }
  svg.replaceChildren(...parts)
  const links = parts.filter((p) => p.tagName === 'line')
  const open = links.filter((l) => l.getAttribute('class') === 'link').length
  $('mesh-summary').textContent = `${open} open channel${open === 1 ? '' : 's'}`
}

function renderClientLinks(node: Shown, maxLinks: number, o: Observed): void {
  const members = node.topology.view().members
  const svg = $('mesh') as unknown as SVGSVGElement
  const w = 320
  const h = 220
  const r = Math.min(w, h) / 2 - 28
  const centre = { x: w / 2, y: h / 2 }
  const linked = new Set(node.links())
  const lines: Element[] = []
  const circles: Element[] = []
  members.forEach((m, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, members.length) - Math.PI / 2
    const p = { x: w / 2 + r * Math.cos(a), y: h / 2 + r * Math.sin(a) }
    if (linked.has(m.nodeId)) {
      const line = document.createElementNS(SVG, 'line')
      line.setAttribute('x1', String(centre.x))
      line.setAttribute('y1', String(centre.y))
      line.setAttribute('x2', String(p.x))
      line.setAttribute('y2', String(p.y))
      line.setAttribute('class', 'link client-link')
      line.dataset.ends = m.nodeId
      lines.push(line)
    }
    circles.push(memberCircle(m.nodeId, m.status, p, h, o, false))
  })
  circles.push(memberCircle(node.nodeId, 'up', centre, h, o, true))
  svg.replaceChildren(...lines, ...circles)
  $('mesh-summary').textContent = `this tab: ${linked.size} link${linked.size === 1 ? '' : 's'} (at most ${maxLinks})`
}

function memberCircle(id: string, status: string, p: { x: number; y: number }, h: number, o: Observed, self: boolean): Element {
  const g = document.createElementNS(SVG, 'g')
  g.setAttribute('class', self ? 'client self' : `member ${status}`)
  g.dataset.node = id
  const c = document.createElementNS(SVG, 'circle')
  c.setAttribute('cx', String(p.x))
  c.setAttribute('cy', String(p.y))
  c.setAttribute('r', self ? '10' : '15')
  c.setAttribute('fill', self ? '#ffffff' : status === 'up' ? o.names.colour(id) : '#e5e7eb')
  const t = document.createElementNS(SVG, 'text')
  t.setAttribute('x', String(p.x))
  t.setAttribute('y', String(p.y + 4))
  t.setAttribute('fill', self ? '#1d2433' : status === 'up' ? o.names.ink(id) : '#b42318')
  t.textContent = self ? '' : o.names.alias(id)
  const label = document.createElementNS(SVG, 'text')
  label.setAttribute('class', 'label')
  label.setAttribute('x', String(p.x))
  label.setAttribute('y', String(p.y + (self || p.y > h / 2 ? 28 : -20)))
  label.textContent = self ? 'this tab' : id
  g.append(c, t, label)
  return g
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/**
 * Cluster-wide healing, from the view (copies still to make: replicas placed on a member that is
 * up but holds no complete copy yet) and from what each member says it copied this round.
 */
export class ClusterHealing {
  private round: { startedAt: number; most: number; endedAt?: number; bytes: number } | undefined

  /** `bytesKnown`: members answer this tab's `status` (a member tab); a client tab shows counts only. */
  render(view: View, settings: ClusterSettings, o: Observed, bytesKnown: boolean): void {
    let pending = 0
    for (let d = 0; d < settings.domainCount; d++) pending += domainRoles(view, settings, d).healing.length
    if (pending > 0 && (!this.round || this.round.endedAt !== undefined)) this.round = { startedAt: o.now, most: pending, bytes: 0 }
    const r = this.round
    const bar = $<HTMLProgressElement>('cluster-healing')
    const text = $('cluster-healing-text')
    const waiting = [...o.downSince.keys()].filter((id) => view.members.some((m) => m.nodeId === id && m.status === 'down'))
    // Nothing being copied, but members down: what counts now is how long until healing starts.
    if (pending === 0 && waiting.length) {
      bar.max = 1
      bar.value = 0
      text.textContent = `nothing copied yet: ${waiting.map((id) => `${id} ${downText(o, id)}`).join(', ')}`
      if (r && r.endedAt === undefined) r.endedAt = o.now
      return
    }
    if (!r) {
      bar.max = 1
      bar.value = 1
      text.textContent = 'every domain has its copies'
      return
    }
    r.most = Math.max(r.most, pending)
    // Bytes: what each member reports for a round that began since this one did (a member's
    // clock is the machine's, as the page's is when they run on one machine, as in `npm start`).
    let bytes = 0
    for (const s of o.status.values()) if (s.healing.startedAt >= r.startedAt - 2000) bytes += s.healing.bytes
    r.bytes = Math.max(r.bytes, bytes)
    if (pending === 0 && r.endedAt === undefined) r.endedAt = o.now
    const took = Math.max(1, (r.endedAt ?? o.now) - r.startedAt)
    bar.max = r.most
    bar.value = r.most - pending
    const rate = `${formatBytes((r.bytes * 1000) / took)}/s`
    if (!bytesKnown) {
      text.textContent = r.endedAt === undefined ? `healing: ${r.most - pending}/${r.most} domain copies done · ${(took / 1000).toFixed(1)} s so far` : `healed: ${r.most} domain copies in ${(took / 1000).toFixed(1)} s`
      return
    }
    text.textContent =
      r.endedAt === undefined
        ? `healing: ${r.most - pending}/${r.most} domain copies done · ${formatBytes(r.bytes)} · ${rate} · ${(took / 1000).toFixed(1)} s so far`
        : `healed: ${r.most} domain copies · ${formatBytes(r.bytes)} in ${(took / 1000).toFixed(1)} s (${rate})`
  }
}

export function log(text: string, error = false): void {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`
  if (error) li.className = 'error'
  const list = $('log')
  list.prepend(li)
  while (list.children.length > 200) list.lastElementChild?.remove()
}

export type { NodeId }
