/**
 * The door of a topology service (embedded or an etcd instance): anyone can open a link, so until
 * a link has proven the cluster secret it is held to a few rules, and no input can take the
 * service down. At most `maxWaitingLinks` links wait for their admission at once; each must say
 * hello within `helloTimeoutMs`; a malformed message gets a named error back, and
 * `maxMalformed` of them close the link (not a refusal: a member closed this way may
 * reconnect, while a refusal is final for it). The service decides on the hello itself and calls
 * `admitted` or `refuse`.
 */
import * as v from '../util/schema.js'
import { ClientMessageSchema, type ClientHelloMessage, type ClientMessage, type HelloMessage, type TopologyLink } from '../topology/protocol.js'
import type { Clock, TimerHandle } from '../util/clock.js'

export interface LinkGateOptions {
  clock: Clock
  /** Links still waiting to be admitted, at most (default 256). */
  maxWaitingLinks?: number | undefined
  /** How long a link may take to say a valid hello (default 10 s). */
  helloTimeoutMs?: number | undefined
  /** Malformed messages after which a link is closed (default 10). */
  maxMalformed?: number | undefined
  /** Counted here, shown in the service's stats. */
  stats: { refused: number; malformed: number; malformedDisconnects: number }
  /** A link was refused (the service's `refused` event). */
  refused: (reason: string) => void
}

export interface LinkHandlers {
  /** The link's first message, a member's or a client's hello: check it, then `admitted` or `refuse`. */
  hello: (msg: HelloMessage | ClientHelloMessage) => void
  /** Every valid message after the hello. */
  message: (msg: ClientMessage) => void
  closed: () => void
}

export class LinkGate {
  private readonly waiting = new Map<TopologyLink, TimerHandle>()

  constructor(private readonly opts: LinkGateOptions) {}

  /** Takes a new link, or refuses it at once with `closing` (a service that is stopping) or when too many wait. */
  accept(link: TopologyLink, handlers: LinkHandlers, closing?: string): void {
    if (closing) return this.refuse(link, closing)
    const maxWaiting = this.opts.maxWaitingLinks ?? 256
    if (this.waiting.size >= maxWaiting) return this.refuse(link, `too many connections have not said hello yet (${maxWaiting}); try again later`)
    const helloTimeoutMs = this.opts.helloTimeoutMs ?? 10_000
    this.waiting.set(link, this.opts.clock.setTimeout(() => this.refuse(link, `no valid hello within ${helloTimeoutMs} ms`), helloTimeoutMs))
    const maxMalformed = this.opts.maxMalformed ?? 10
    let malformed = 0
    let pending = true
    link.onMessage((raw) => {
      const parsed = v.safeParse(ClientMessageSchema, raw)
      if (!parsed.success) {
        this.opts.stats.malformed++
        link.send({ type: 'error', reason: `malformed message: ${parsed.issues[0]?.message ?? 'invalid'}` })
        if (++malformed < maxMalformed) return
        this.opts.stats.malformedDisconnects++
        this.admitted(link)
        return link.close(`${maxMalformed} malformed messages`)
      }
      const msg = parsed.output
      if (!pending) return handlers.message(msg)
      if (msg.type !== 'hello' && msg.type !== 'client-hello') return this.refuse(link, 'expected hello first')
      pending = false
      handlers.hello(msg)
    })
    link.onClose(() => {
      this.admitted(link)
      handlers.closed()
    })
  }

  /** Whether the link still waits for its admission (not refused, timed out or closed meanwhile). */
  waits(link: TopologyLink): boolean {
    return this.waiting.has(link)
  }

  /** The link is through (admitted, or closed without a refusal): its hello deadline goes. */
  admitted(link: TopologyLink): void {
    const deadline = this.waiting.get(link)
    if (deadline) this.opts.clock.clearTimeout(deadline)
    this.waiting.delete(link)
  }

  /** Refuses the link for good: the node is told why and does not come back. */
  refuse(link: TopologyLink, reason: string): void {
    this.admitted(link)
    this.opts.stats.refused++
    this.opts.refused(reason)
    link.send({ type: 'refused', reason })
    link.close(reason)
  }

  /** Closes every link still waiting (the service stops). */
  closeWaiting(reason: string): void {
    for (const link of [...this.waiting.keys()]) {
      this.admitted(link)
      link.close(reason)
    }
  }
}
