/**
 * The sessions panel: a session client in this tab, served by a member of the user's choice. In a
 * member tab it is the node's own session client; in a client tab, the MeshClient's (its sessions
 * are bound to the tab's user: no other user reaches them).
 */
import type { NodeId, SessionClient, View } from '../src/index.js'
import { log } from './render.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

/** Where the panel's session client comes from: the tab's node or client, while it runs. */
export interface SessionSource {
  self: string
  /** Who the sessions are for (the node id, or the client's user). */
  owner: string
  view(): View
  make(serving: NodeId): SessionClient
}

export class SessionsPanel {
  private client: SessionClient | undefined
  readonly ids: string[] = []

  constructor(private readonly source: () => SessionSource | undefined) {
    $('session-form').addEventListener('submit', (e) => {
      e.preventDefault()
      void this.create()
    })
    $('session-read').addEventListener('click', () => void this.readAll())
  }

  /** Lists the members that can serve sessions; the first that is not this tab is preselected. */
  renderServing(): void {
    const s = this.source()
    const select = $<HTMLSelectElement>('serving')
    if (!s) return
    const members = s
      .view()
      .members.filter((m) => m.status === 'up' && m.engines.some((e) => e.engineType === 'session'))
      .map((m) => m.nodeId)
    const current = select.value
    const options = members.map((m) => {
      const o = document.createElement('option')
      o.value = o.textContent = m
      return o
    })
    select.replaceChildren(...options)
    select.value = members.includes(current as never) ? current : (members.find((m) => m !== s.self) ?? members[0] ?? '')
  }

  private clientFor(s: SessionSource): SessionClient {
    this.client ??= s.make($<HTMLSelectElement>('serving').value as NodeId)
    return this.client
  }

  private async create(): Promise<void> {
    const s = this.source()
    if (!s) return
    try {
      const id = await this.clientFor(s).create({ createdBy: s.owner, visits: 0 })
      this.ids.push(id)
      log(`session ${id} created on ${this.client!.token!.primary}`)
      this.show(`created ${this.ids.length} session(s)`)
    } catch (err) {
      log(`session create failed: ${(err as Error).message}`, true)
    }
  }

  async readAll(): Promise<number> {
    if (!this.source() || !this.client) return 0
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
