/**
 * A client's links to members (issue 34): dialled only when a call needs one, at most `maxLinks`
 * at once, closed after `idleMs` without use, and each shown the client's token (`auth`) before
 * anything else goes on it. A call for a member the client has no link to, and may not open one
 * to now (the cap is reached, or the dial failed), goes through a member it is linked to, which
 * relays it (store engine forwarding; the session engine's own routing).
 */
import { NoRouteError } from '../errors.js'
import type { ClusterId, NodeId } from '../ids.js'
import type { Messenger } from '../routing/messenger.js'
import { STORE_ENGINE_ID } from '../store/port.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { WebRtcTransport } from '../transport/webrtc.js'

export interface ClientLinksOptions {
  clusterId: ClusterId
  self: NodeId
  clock: Clock
  transport: Pick<WebRtcTransport, 'dialMember' | 'release' | 'peers' | 'on'>
  messenger: () => Messenger
  token: () => Promise<string>
  /** Up members now, in the current view. */
  members: () => NodeId[]
  maxLinks: number
  idleMs: number
  /** How long one dial may take before the call goes through another member. */
  dialTimeoutMs: number
  random: () => number
}

interface LinkState {
  lastUsed: number
  /** Resolves once the member took the client's token on this link. */
  ready: Promise<void>
}

export class ClientLinks {
  private readonly links = new Map<NodeId, LinkState>()
  private sweeper: TimerHandle | undefined
  private closed = false
  /** Called when a link is up and authorized (the backend re-sends its subscriptions to a new home). */
  onReady: (member: NodeId) => void = () => {}
  /**
   * The member that holds the client's subscriptions (set by the backend): never closed to make
   * room or for idleness. Moving them elsewhere would miss every change made in between.
   */
  pinned: NodeId | undefined

  constructor(private readonly opts: ClientLinksOptions) {
    opts.transport.on('peer-down', ({ peer }) => void this.links.delete(peer))
    this.sweep()
  }

  get linked(): NodeId[] {
    return [...this.links.keys()]
  }

  /**
   * The member a call meant for `target` goes to now: `target` itself if linked or linkable (dialled
   * now, within the cap and `dialTimeoutMs`), else a linked member that relays it.
   */
  async via(target: NodeId): Promise<NodeId> {
    const direct = this.links.get(target)
    if (direct) return this.use(target, direct)
    if (this.links.size < this.opts.maxLinks || this.evictIdle()) {
      try {
        return await this.use(target, this.open(target))
      } catch {
        // Dial failed (no route between the two, a timeout): any member relays.
      }
    }
    return this.anyLinked(target)
  }

  /** A linked member (dialling one if there is none): where calls go that any member can take. */
  async home(): Promise<NodeId> {
    const [first] = [...this.links].sort((a, b) => b[1].lastUsed - a[1].lastUsed)
    if (first) return this.use(first[0], first[1])
    return this.anyLinked(undefined)
  }

  /** Shows a fresh token on every link (before the old one expires). */
  async refresh(): Promise<void> {
    const token = await this.opts.token()
    await Promise.allSettled([...this.links.keys()].map((m) => this.auth(m, token)))
  }

  close(): void {
    this.closed = true
    if (this.sweeper) this.opts.clock.clearTimeout(this.sweeper)
    for (const m of [...this.links.keys()]) this.opts.transport.release(m)
    this.links.clear()
  }

  private async use(member: NodeId, link: LinkState): Promise<NodeId> {
    link.lastUsed = this.opts.clock.now()
    await link.ready
    return member
  }

  private async anyLinked(target: NodeId | undefined): Promise<NodeId> {
    for (const [m, link] of [...this.links].sort((a, b) => b[1].lastUsed - a[1].lastUsed)) {
      try {
        return await this.use(m, link)
      } catch {
        // That link failed its auth or dropped: the next.
      }
    }
    // No link at all: dial up members in random order until one answers.
    const candidates = this.opts.members().filter((m) => m !== target && !this.links.has(m))
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.opts.random() * (i + 1))
      ;[candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!]
    }
    for (const m of candidates) {
      try {
        return await this.use(m, this.open(m))
      } catch {
        // The next one.
      }
    }
    throw new NoRouteError('node', target ?? '*', `${this.opts.clusterId}/${target ?? '*'}/store (no member could be reached)`)
  }

  private open(member: NodeId): LinkState {
    const link: LinkState = { lastUsed: this.opts.clock.now(), ready: Promise.resolve() }
    link.ready = (async () => {
      await withTimeout(this.opts.clock, this.opts.transport.dialMember(member), this.opts.dialTimeoutMs, member)
      await this.auth(member, await this.opts.token())
      this.onReady(member)
    })()
    link.ready.catch(() => {
      if (this.links.get(member) === link) {
        this.links.delete(member)
        this.opts.transport.release(member)
      }
    })
    this.links.set(member, link)
    return link
  }

  private async auth(member: NodeId, token: string): Promise<void> {
    const self = { clusterId: this.opts.clusterId, nodeId: this.opts.self, engineId: STORE_ENGINE_ID }
    await this.opts.messenger().request(self, { clusterId: this.opts.clusterId, nodeId: member, engineId: STORE_ENGINE_ID }, 'auth', { token })
  }

  /** Makes room for one more link by closing the least recently used one idle for a while; false if none is. */
  private evictIdle(): boolean {
    const now = this.opts.clock.now()
    const [oldest] = [...this.links].filter(([m]) => m !== this.pinned).sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    if (!oldest || now - oldest[1].lastUsed < Math.min(1000, this.opts.idleMs)) return false
    this.links.delete(oldest[0])
    this.opts.transport.release(oldest[0])
    return true
  }

  private sweep(): void {
    this.sweeper = this.opts.clock.setTimeout(() => {
      if (this.closed) return
      const now = this.opts.clock.now()
      // The most recently used link stays: subscriptions and the next call go there.
      const [, ...rest] = [...this.links].sort((a, b) => b[1].lastUsed - a[1].lastUsed)
      for (const [m, link] of rest) {
        if (now - link.lastUsed < this.opts.idleMs || m === this.pinned) continue
        this.links.delete(m)
        this.opts.transport.release(m)
      }
      this.sweep()
    }, Math.max(100, this.opts.idleMs / 2))
  }
}

function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number, member: NodeId): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = clock.setTimeout(() => reject(new NoRouteError('node', member, `dial of ${member} took over ${ms} ms`)), ms)
    p.then(
      (v) => {
        clock.clearTimeout(t)
        resolve(v)
      },
      (e: unknown) => {
        clock.clearTimeout(t)
        reject(e)
      },
    )
  })
}
