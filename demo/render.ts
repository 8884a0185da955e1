/** Draws the panels from the node's current view and state. Plain DOM, no framework. */
import { domainRoles, type MeshNode } from '../src/index.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

/** A stable colour per node id; the golden angle keeps similar ids (node-1, node-2) far apart. */
export function colourOf(id: string): string {
  let h = 0x811c9dc5
  for (const ch of id) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0
  return `hsl(${Math.round((h % 997) * 137.508) % 360} 75% 78%)`
}

export function renderTopology(node: MeshNode): void {
  const view = node.topology.view()
  $('epoch').textContent = `view epoch ${view.epoch}`
  const leads = new Map<string, number>()
  for (let d = 0; d < node.settings.domainCount; d++) {
    const p = domainRoles(view, node.settings, d).primary
    if (p) leads.set(p, (leads.get(p) ?? 0) + 1)
  }
  const rows = view.members.map((m) => {
    const tr = document.createElement('tr')
    const cells = [m.nodeId + (m.nodeId === node.nodeId ? ' (this tab)' : ''), m.status, m.engines.map((e) => e.engineType).join(', '), String(leads.get(m.nodeId) ?? 0), m.durable ? 'durable' : 'ephemeral']
    cells.forEach((text, i) => {
      const td = document.createElement('td')
      td.textContent = text
      if (i === 0) td.style.background = colourOf(m.nodeId)
      if (i === 1) td.className = m.status
      tr.append(td)
    })
    return tr
  })
  $('members').querySelector('tbody')!.replaceChildren(...rows)
}

export function renderDomains(node: MeshNode): void {
  const view = node.topology.view()
  const down = new Set(view.members.filter((m) => m.status === 'down').map((m) => m.nodeId))
  let under = 0
  const cells = []
  for (let d = 0; d < node.settings.domainCount; d++) {
    const r = domainRoles(view, node.settings, d)
    const live = r.owners.filter((o) => !down.has(o)).length
    const isUnder = live < Math.min(node.settings.replicas, view.members.length)
    if (isUnder) under++
    const cell = document.createElement('div')
    cell.className = `cell${isUnder ? ' under' : ''}${r.healing.length ? ' healing' : ''}`
    cell.style.background = r.primary ? colourOf(r.primary) : '#eee'
    cell.title = `domain ${d}\nprimary ${r.primary ?? 'none'}\nbackups ${r.backups.join(', ') || 'none'}\nowners ${r.owners.join(', ')}${r.healing.length ? `\nbeing copied to ${r.healing.join(', ')}` : ''}`
    cell.innerHTML = `<b>${d}</b><span>${(r.primary ?? '—').slice(-4)}</span>`
    cells.push(cell)
  }
  $('domain-map').replaceChildren(...cells)
  $('domain-summary').textContent = `${node.settings.domainCount} domains × ${node.settings.replicas} replicas · ${under} under-replicated`
}

export function log(text: string, error = false): void {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`
  if (error) li.className = 'error'
  const list = $('log')
  list.prepend(li)
  while (list.children.length > 200) list.lastElementChild?.remove()
}
