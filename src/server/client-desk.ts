/**
 * Where a topology service (embedded or an etcd instance) keeps its clients (issue 34): browser
 * tabs of an app's users, admitted with a token from the app's auth endpoint instead of the
 * cluster secret. A client is never a member: it is in no view and owns nothing, its link closing
 * changes no view, and its signals go only to members, marked as a client's so that the member
 * treats the WebRTC link that follows as a client's (see ClientGate). It gets the views, to find
 * the primaries of the domains it touches. Its link closes when its token expires, unless it sent
 * a fresh one (`token`) before.
 */
import { isValidId, type NodeId } from '../ids.js'
import { TokenVerifier, type ClientAuthOptions, type Credential } from '../auth/credentials.js'
import { withJose } from '../auth/jose-verifier.js'
import type { ClientHelloMessage, ClientMessage, TopologyLink } from '../topology/protocol.js'
import type { ClusterSettings, View } from '../topology/view.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { LinkGate } from './link-gate.js'

export interface ClientDeskOptions {
  clusterId: string
  clock: Clock
  gate: LinkGate
  /** Without it, no client is admitted. */
  auth: ClientAuthOptions | undefined
  /** Clients at most (default 100,000). */
  maxClients?: number | undefined
  /** Whether `id` is a member's (a client may not take a member's id). */
  isMember: (id: NodeId) => boolean
  /** Sends a client's signal on to member `to`; false if that member cannot be reached from here. */
  toMember: (to: NodeId, msg: { type: 'signal'; from: NodeId; data: unknown; client: true }) => boolean
  view: () => View | undefined
  welcome: () => { settings: ClusterSettings; heartbeatMs: number; healDelayMs: number }
}

interface Client {
  id: NodeId
  link: TopologyLink
  credential: Credential
  expiry: TimerHandle | undefined
  welcomed: boolean
}

export class ClientDesk {
  readonly stats = { clientsAdmitted: 0, clientsRefused: 0, clientSignals: 0 }
  private readonly clients = new Map<NodeId, Client>()
  private readonly verifier: TokenVerifier | undefined

  constructor(private readonly opts: ClientDeskOptions) {
    this.verifier = opts.auth && new TokenVerifier(withJose(opts.auth), opts.clusterId, () => opts.clock.now())
  }

  get size(): number {
    return this.clients.size
  }

  has(id: NodeId): boolean {
    return this.clients.has(id)
  }

  /** Checks a client's hello; admits it (welcome with the current view) or refuses it for good. Returns its handlers. */
  async admit(link: TopologyLink, hello: ClientHelloMessage): Promise<((msg: ClientMessage) => void) | undefined> {
    const gate = this.opts.gate
    let why: string | undefined
    let credential: Credential | undefined
    if (!this.verifier) why = 'this cluster admits no clients (the topology service has no client key)'
    else if (hello.clusterId !== this.opts.clusterId) why = `wrong cluster "${hello.clusterId}"`
    else if (!isValidId(hello.nodeId)) why = `invalid client id "${hello.nodeId}"`
    else if (this.opts.isMember(hello.nodeId as NodeId) || this.clients.has(hello.nodeId as NodeId)) why = `id "${hello.nodeId}" is taken`
    else if (this.clients.size >= (this.opts.maxClients ?? 100_000)) why = 'too many clients'
    else {
      try {
        credential = await this.verifier.verify(hello.token)
      } catch (err) {
        why = (err as Error).message
      }
    }
    if (!gate.waits(link)) return undefined
    const id = hello.nodeId as NodeId
    // Checked again: another link may have taken the id while the token was being verified.
    if (!why && (this.clients.has(id) || this.opts.isMember(id))) why = `id "${id}" is taken`
    if (why || !credential) {
      this.stats.clientsRefused++
      gate.refuse(link, why ?? 'refused')
      return undefined
    }
    gate.admitted(link)
    const c: Client = { id, link, credential, expiry: undefined, welcomed: false }
    this.clients.set(id, c)
    this.stats.clientsAdmitted++
    this.armExpiry(c)
    const view = this.opts.view()
    if (view) this.welcome(c, view)
    return (msg) => this.onMessage(c, msg)
  }

  /** The client's link closed. */
  closed(id: NodeId, link: TopologyLink): void {
    const c = this.clients.get(id)
    if (!c || c.link !== link) return
    if (c.expiry) this.opts.clock.clearTimeout(c.expiry)
    this.clients.delete(id)
  }

  /** A member's signal to client `to`; false if no such client is here. */
  deliver(to: NodeId, msg: { type: 'signal'; from: NodeId; data: unknown }): boolean {
    const c = this.clients.get(to)
    if (!c?.welcomed) return false
    c.link.send(msg)
    return true
  }

  /** Every new view goes to every client (a client waiting for its first view gets its welcome). */
  broadcast(view: View): void {
    for (const c of this.clients.values()) {
      if (c.welcomed) c.link.send({ type: 'view', view })
      else this.welcome(c, view)
    }
  }

  close(reason: string): void {
    for (const c of this.clients.values()) {
      if (c.expiry) this.opts.clock.clearTimeout(c.expiry)
      c.link.close(reason)
    }
    this.clients.clear()
  }

  private welcome(c: Client, view: View): void {
    c.welcomed = true
    const w = this.opts.welcome()
    c.link.send({ type: 'welcome', nodeId: c.id, view, settings: w.settings, heartbeatMs: w.heartbeatMs, healDelayMs: w.healDelayMs, beats: true })
  }

  private onMessage(c: Client, msg: ClientMessage): void {
    if (this.clients.get(c.id) !== c) return
    switch (msg.type) {
      case 'heartbeat':
        return c.link.send({ type: 'beat' })
      case 'signal': {
        const to = msg.to as NodeId
        if (!this.opts.isMember(to) || !this.opts.toMember(to, { type: 'signal', from: c.id, data: msg.data, client: true })) {
          return c.link.send({ type: 'error', reason: `cannot signal ${msg.to}: not a member that can be reached` })
        }
        this.stats.clientSignals++
        return
      }
      case 'token':
        void this.refresh(c, msg.token)
        return
      case 'leave':
        return c.link.close('client left')
      default:
        // Members' messages (reports, ownership, copies, engines, a second hello): not a client's to send.
        return c.link.send({ type: 'error', reason: `a client may not send "${msg.type}"` })
    }
  }

  private async refresh(c: Client, token: string): Promise<void> {
    try {
      const credential = await this.verifier!.verify(token)
      if (credential.subject !== c.credential.subject) throw new Error(`the fresh token is for another subject (${credential.subject})`)
      c.credential = credential
      this.armExpiry(c)
    } catch (err) {
      c.link.send({ type: 'error', reason: `token not taken: ${(err as Error).message}` })
    }
  }

  private armExpiry(c: Client): void {
    if (c.expiry) this.opts.clock.clearTimeout(c.expiry)
    const left = Math.max(0, c.credential.expiresAt - this.opts.clock.now())
    // Timers take at most 2^31-1 ms; a token valid for longer is looked at again then.
    c.expiry = this.opts.clock.setTimeout(() => {
      if (this.clients.get(c.id) !== c) return
      if (this.opts.clock.now() >= c.credential.expiresAt) c.link.close('token expired')
      else this.armExpiry(c)
    }, Math.min(left, 2 ** 31 - 1))
  }
}
