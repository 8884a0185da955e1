/** The sessions panel: a session client in this tab, served by a node of the user's choice. */
import { createClient, type MeshNode, type SessionClient } from '../src/index.js'
import { log } from './render.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

export class SessionsPanel {
  private client: SessionClient | undefined
  readonly ids: string[] = []

  constructor(private readonly node: () => MeshNode | undefined) {
    $('session-form').addEventListener('submit', (e) => {
      e.preventDefault()
      void this.create()
    })
    $('session-read').addEventListener('click', () => void this.readAll())
  }

  /** Lists the members that can serve sessions; the first that is not this tab is preselected. */
  renderServing(): void {
    const n = this.node()
    const select = $<HTMLSelectElement>('serving')
    if (!n) return
    const members = n.topology.view().members.filter((m) => m.status === 'up' && m.engines.some((e) => e.engineType === 'session')).map((m) => m.nodeId)
    const current = select.value
    const options = members.map((m) => {
      const o = document.createElement('option')
      o.value = o.textContent = m
      return o
    })
    select.replaceChildren(...options)
    select.value = members.includes(current as never) ? current : (members.find((m) => m !== n.nodeId) ?? members[0] ?? '')
  }

  private clientFor(n: MeshNode): SessionClient {
    this.client ??= createClient({ node: n, virtualServer: 'demo', clientId: `${n.nodeId}-client`, serving: $<HTMLSelectElement>('serving').value as never })
    return this.client
  }

  private async create(): Promise<void> {
    const n = this.node()
    if (!n) return
    try {
      const id = await this.clientFor(n).create({ createdBy: n.nodeId, visits: 0 })
      this.ids.push(id)
      log(`session ${id} created on ${this.client!.token!.primary}`)
      this.show(`created ${this.ids.length} session(s)`)
    } catch (err) {
      log(`session create failed: ${(err as Error).message}`, true)
    }
  }

  async readAll(): Promise<number> {
    const n = this.node()
    if (!n || !this.client) return 0
    let ok = 0
    for (const id of this.ids) {
      try {
        await this.client.update<{ visits: number }>(id, (d) => void d.visits++)
        ok++
      } catch (err) {
        log(`session ${id}: ${(err as Error).message}`, true)
      }
    }
    const via = this.client.lastFailover.length ? ` (failed over: ${this.client.lastFailover.join(', ')} unreachable)` : ''
    this.show(`${ok}/${this.ids.length} sessions read and updated, served by ${this.client.token?.primary}${via}`)
    return ok
  }

  private show(status: string): void {
    $('session-status').textContent = status
    const t = this.client?.token
    $('token').textContent = t ? JSON.stringify({ ...t, sig: `${t.sig.slice(0, 16)}…` }, null, 1) : ''
  }
}
