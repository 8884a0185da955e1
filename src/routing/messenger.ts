/**
 * Requests, responses and one-way messages between engines over a Transport.
 * - Outbound envelopes to one peer are coalesced into one frame. While frames come in, sends wait
 *   for the end of the I/O phase, so all that those frames cause leaves together; a send the
 *   application started outside of that (see `expedite`) leaves once the current microtasks ran.
 * - Inbound frames are decoded and validated; a malformed frame is counted, reported and dropped,
 *   never thrown into the loop. A peer that keeps sending them is disconnected.
 * - An envelope whose `from` names another node than the link it came on is a forgery: dropped.
 */
import { ClosedError, DomainMeshError, NotConnectedError, TimeoutError, toWireError } from '../errors.js'
import { fromWireError } from '../remote-errors.js'
import type { ClusterId, NodeId } from '../ids.js'
import type { Transport } from '../transport/transport.js'
import { defer, microtask, type Clock } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { MAX_ADDRESSES_PER_FRAME, type Envelope, type MessageEnvelope, type MessagesEnvelope, type RequestEnvelope } from '../wire/envelope.js'
import { AddressCache } from '../wire/address-cache.js'
import { decodeFrame, encodeFrame } from '../wire/codec.js'
import { formatAddress, isExact, type Address, type ExactAddress } from './address.js'
import type { Engine, Request } from './engine.js'
import type { Router } from './router.js'
import { ReplayWindow } from './replay-window.js'
import { Deadlines } from './deadlines.js'

export interface MessengerEvents {
  malformed: { peer: NodeId; reason: string; count: number }
  'peer-banned': { peer: NodeId; reason: string }
  /** A one-way message whose handler failed (there is nobody to answer). */
  'handler-error': { peer: NodeId; method: string; error: unknown }
}

export interface MessengerOptions {
  clusterId: ClusterId
  nodeId: NodeId
  transport: Transport
  router: Router
  clock: Clock
  requestTimeoutMs?: number
  /** Malformed frames tolerated from one peer before its link is cut. */
  maxMalformedPerPeer?: number
  /** Random bytes for the first request id (default crypto); the simulation passes a seeded source. */
  randomBytes?: (bytes: Uint8Array) => Uint8Array
  /** The first request id itself, for tests that need a node's lives to count from chosen points. */
  firstRequestId?: number
  /**
   * Where what arrives on a client's link goes instead of the engine it names (auth/gate.ts): a
   * client's requests are checked there; its one-way messages are refused.
   */
  clients?: ClientDoor
}

/** The messenger's view of the client gate. */
export interface ClientDoor {
  isClient(peer: NodeId): boolean
  handle(req: Request): Promise<unknown>
}

export interface MessengerMetrics {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  envelopesIn: number
  envelopesOut: number
  malformed: number
  requestsServed: number
  requestsFailed: number
  /** Requests received twice (a duplicated frame) and run only once. */
  duplicates: number
}

function randomIdBase(randomBytes: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b as Uint8Array<ArrayBuffer>)): number {
  const b = randomBytes(new Uint8Array(8))
  const hi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
  const lo = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0
  return (hi & 0xffff) * 2 ** 32 + lo + 1 // below 2^48: room for 2^53 - 2^48 more requests
}

/** Two addresses per envelope at most: a frame of this many never runs out of address slots. */
const ENVELOPES_PER_FRAME = MAX_ADDRESSES_PER_FRAME / 2

interface Pending {
  node: NodeId
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
  /** For the TimeoutError when it expires (deadlines.ts). */
  method: string
  timeoutMs: number
  /**
   * Whether the request was handed to the transport. Until then it waits in the outbox, and an
   * error for it says it never left (`details.sent` false), so the caller may send it again.
   */
  sent: boolean
}

export class Messenger {
  readonly events = new Emitter<MessengerEvents>()
  readonly metrics: MessengerMetrics = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, envelopesIn: 0, envelopesOut: 0, malformed: 0, requestsServed: 0, requestsFailed: 0, duplicates: 0 }
  private readonly pending = new Map<number, Pending>()
  private readonly deadlines: Deadlines
  private readonly outbox = new Map<NodeId, Envelope[]>()
  private readonly malformedBy = new Map<NodeId, number>()
  /** Request ids seen from each peer, over all its links and lives: a request is never run twice (replay-window.ts). */
  private readonly seen = new Map<NodeId, ReplayWindow>()
  /** Addresses already parsed from frames (address-cache.ts). */
  private readonly addresses = new AddressCache()
  private flushScheduled = false
  /** True while the frames of one I/O phase are handled; cleared once that phase is over. */
  private inFrames = false
  /** True from an `expedite()` until the end of the current phase of the event loop. */
  private expedited = false
  /** An expedited flush already ran in this phase: what is sent after it waits for the phase's end. */
  private expeditedFlushed = false
  /**
   * Request ids start at a random point: a node that restarts must not reuse the ids of its past
   * life, or a late answer to an old request would be taken for the answer to a new one.
   */
  private nextId: number
  private closed = false
  private readonly unsubscribe: (() => void)[]

  constructor(private readonly opts: MessengerOptions) {
    this.nextId = opts.firstRequestId ?? randomIdBase(opts.randomBytes)
    this.deadlines = new Deadlines(opts.clock, (id) => this.pending.has(id), (id) => this.expire(id))
    const t = opts.transport
    this.unsubscribe = [
      t.on('frame', ({ from, bytes }) => this.onFrame(from, bytes)),
      t.on('peer-down', ({ peer, reason }) => this.failPending(peer, (sent) => new NotConnectedError(`peer ${peer} went down (${reason})`, { sent }))),
      // The window of ids seen from the peer stays across its links: a copy of a request sent
      // before the link dropped can still come after it is back (a delayed frame, a stopped
      // process that goes on), and a restarted peer counts from a new random point, which the
      // window tells apart (replay-window.ts).
      t.on('peer-up', ({ peer }) => void this.malformedBy.delete(peer)),
    ]
  }

  /** Sends a request and resolves with the response body; rejects with the remote's named error. */
  request(from: ExactAddress, to: Address, method: string, body: unknown, timeoutMs = this.opts.requestTimeoutMs ?? 10_000): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('node', { sent: false }))
    let route
    try {
      route = this.opts.router.resolve(to)
    } catch (err) {
      return Promise.reject(err)
    }
    if (route.kind === 'local') {
      const req: Request = { fromNode: this.opts.nodeId, from, to, method, body, oneWay: false }
      const engine = route.engine
      return Promise.resolve().then(() => engine.handle(req))
    }
    const id = this.nextId++
    const node = route.nodeId
    return new Promise((resolve, reject) => {
      this.pending.set(id, { node, resolve, reject, method, timeoutMs, sent: false })
      this.deadlines.add(id, timeoutMs)
      this.enqueue(node, { t: 'req', id, from, to: route.address, m: method, b: body })
    })
  }

  /** Sends a one-way message. Throws NoRouteError at once when there is no route. */
  notify(from: ExactAddress, to: Address, method: string, body: unknown): void {
    if (this.closed) throw new ClosedError('node')
    const route = this.opts.router.resolve(to)
    if (route.kind === 'local') {
      const engine = route.engine
      const req: Request = { fromNode: this.opts.nodeId, from, to, method, body, oneWay: true }
      microtask(() => this.runOneWay(this.opts.nodeId, engine, req))
      return
    }
    this.enqueue(route.nodeId, { t: 'msg', from, to: route.address, m: method, b: body })
  }

  /**
   * Sends a one-way message to a peer on its link, whoever it is: a client, which no view lists
   * and the router does not know (the client gate's change notices).
   */
  notifyLink(from: ExactAddress, to: ExactAddress, method: string, body: unknown): void {
    if (this.closed) throw new ClosedError('node')
    this.enqueue(to.nodeId, { t: 'msg', from, to, m: method, b: body })
  }

  /**
   * The application started a call (a write, a read): what it sends until the end of this phase
   * of the event loop leaves once the current microtasks ran, instead of at the end of the phase.
   * Not while frames are being handled: under load a call is usually caused by one (an ack lets a
   * writer go on), and waiting for the end of the phase puts all of that in one frame per peer.
   * Measured in pairs within one process, a write at low load got its first frame out about 0.1 ms
   * sooner (0.21-0.28 -> 0.12-0.16 ms after the call).
   */
  expedite(): void {
    if (this.expedited) return
    this.expedited = true
    defer(this.opts.clock, () => (this.expedited = this.expeditedFlushed = false))
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const u of this.unsubscribe) u()
    this.deadlines.stop()
    for (const [id, p] of this.pending) {
      p.reject(new ClosedError('node', { sent: p.sent }))
      this.pending.delete(id)
    }
    this.outbox.clear()
  }

  private enqueue(node: NodeId, env: Envelope): void {
    let box = this.outbox.get(node)
    if (!box) this.outbox.set(node, (box = []))
    box.push(env)
    if (this.flushScheduled) return
    this.flushScheduled = true
    if (this.inFrames) return // the end of their phase sends it (onFrame)
    if (this.expedited && !this.expeditedFlushed) {
      this.expeditedFlushed = true
      microtask(() => this.flush())
    } else defer(this.opts.clock, () => this.flush())
  }

  private flush(): void {
    this.flushScheduled = false
    if (this.closed) return
    const boxes = [...this.outbox]
    this.outbox.clear()
    for (const [node, queued] of boxes) {
      const envs = groupMessages(queued)
      for (let i = 0; i < envs.length; i += ENVELOPES_PER_FRAME) this.sendFrame(node, envs.slice(i, i + ENVELOPES_PER_FRAME))
    }
  }

  private sendFrame(node: NodeId, envs: Envelope[]): void {
    let bytes: Uint8Array
    try {
      bytes = encodeFrame(envs, { clusterId: this.opts.clusterId, self: this.opts.nodeId, peer: node })
    } catch (err) {
      // One unencodable body must not take the rest of the batch down with it.
      if (envs.length > 1) return envs.forEach((e) => this.sendFrame(node, [e]))
      return this.failEnvelope(envs[0]!, new DomainMeshError('UNENCODABLE', `cannot encode message: ${(err as Error).message}`))
    }
    try {
      this.opts.transport.send(node, bytes)
    } catch (err) {
      // The link is gone: callers waiting on these requests learn now rather than at their
      // timeout, and that the requests never left.
      const why = err instanceof Error ? err.message : String(err)
      for (const e of envs) if (e.t === 'req') this.failEnvelope(e, new NotConnectedError(`request ${e.m} to ${node} (${why})`, { sent: false }))
      return
    }
    for (const e of envs) {
      const p = e.t === 'req' ? this.pending.get(e.id) : undefined
      if (p) p.sent = true
    }
    this.metrics.framesOut++
    this.metrics.bytesOut += bytes.byteLength
    this.metrics.envelopesOut += envs.length
  }

  private failEnvelope(env: Envelope, err: unknown): void {
    if (env.t === 'req') this.settle(env.id, undefined, (p) => p.reject(err))
    else if (env.t === 'res') this.enqueue(nodeOf(env.to), { t: 'err', id: env.id, from: env.from, to: env.to, e: toWireError(err) })
  }

  private onFrame(peer: NodeId, bytes: Uint8Array): void {
    if (this.closed) return
    if (!this.inFrames) {
      this.inFrames = true
      // Deferred before any handler runs, so what this phase's frames cause leaves first once the
      // phase is over, ahead of what the handlers defer themselves. A relaying primary's
      // append to the third node used to wait behind the group commit its write started
      // (replica-store.ts): its frame in -> append out took 0.12-0.17 ms longer at p50, traced.
      defer(this.opts.clock, () => {
        this.inFrames = false
        if (this.outbox.size > 0) this.flush()
      })
    }
    this.metrics.framesIn++
    this.metrics.bytesIn += bytes.byteLength
    const decoded = decodeFrame(bytes, { clusterId: this.opts.clusterId, self: this.opts.nodeId, peer }, this.addresses)
    if (!decoded.ok) return this.malformed(peer, decoded.reason)
    for (const env of decoded.envelopes) {
      this.metrics.envelopesIn++
      if (!isExact(env.from) || env.from.nodeId !== peer) {
        this.malformed(peer, `envelope claims to come from ${isExact(env.from) ? env.from.nodeId : 'a partial address'}`)
        continue
      }
      if (env.from.clusterId !== this.opts.clusterId) {
        this.malformed(peer, `envelope from cluster ${env.from.clusterId}`)
        continue
      }
      switch (env.t) {
        case 'req':
          if (this.firstTime(peer, env.id)) this.serve(peer, env)
          else this.metrics.duplicates++
          break
        case 'msg':
          this.deliverOneWay(peer, env)
          break
        case 'msgs':
          for (const b of env.bs) this.deliverOneWay(peer, { t: 'msg', from: env.from, to: env.to, m: env.m, b })
          break
        case 'res':
          this.settle(env.id, peer, (p) => p.resolve(env.b))
          break
        case 'err':
          this.settle(env.id, peer, (p) => p.reject(fromWireError(env.e)))
          break
      }
    }
  }

  /**
   * Runs a request and queues its answer. Promises, not an async function: a write's request
   * waits here until it commits, and a generator held for each of them was copied by every
   * scavenge of a burst.
   */
  private serve(peer: NodeId, env: RequestEnvelope): void {
    let from: ExactAddress = { clusterId: this.opts.clusterId, nodeId: this.opts.nodeId, engineId: 'router' as ExactAddress['engineId'] }
    let answer: Promise<unknown>
    try {
      const req: Request = { fromNode: peer, from: env.from, to: env.to, method: env.m, body: env.b, oneWay: false }
      const door = this.opts.clients
      if (door?.isClient(peer)) {
        if (isExact(env.to)) from = { clusterId: this.opts.clusterId, nodeId: this.opts.nodeId, engineId: env.to.engineId }
        answer = Promise.resolve(door.handle(req))
      } else {
        const engine = this.opts.router.resolveLocal(env.to)
        from = { clusterId: this.opts.clusterId, nodeId: this.opts.nodeId, engineId: engine.engineId }
        answer = Promise.resolve(engine.handle(req))
      }
    } catch (err) {
      answer = Promise.reject(err)
    }
    const id = env.id
    const to = env.from
    answer.then(
      (body) => {
        this.metrics.requestsServed++
        if (!this.closed) this.enqueue(peer, { t: 'res', id, to, from, b: body })
      },
      (err: unknown) => {
        this.metrics.requestsFailed++
        if (!this.closed) this.enqueue(peer, { t: 'err', id, to, from, e: toWireError(err) })
      },
    )
  }

  private firstTime(peer: NodeId, id: number): boolean {
    let w = this.seen.get(peer)
    if (!w) this.seen.set(peer, (w = new ReplayWindow()))
    return w.firstTime(id)
  }

  private deliverOneWay(peer: NodeId, env: MessageEnvelope): void {
    if (this.opts.clients?.isClient(peer)) {
      this.events.emit('handler-error', { peer, method: env.m, error: new DomainMeshError('CLIENT_MESSAGE_REFUSED', `a client may send requests only, not "${env.m}"`) })
      return
    }
    let engine: Engine
    try {
      engine = this.opts.router.resolveLocal(env.to)
    } catch (error) {
      this.events.emit('handler-error', { peer, method: env.m, error })
      return
    }
    this.runOneWay(peer, engine, { fromNode: peer, from: env.from, to: env.to, method: env.m, body: env.b, oneWay: true })
  }

  /** Most handlers of one-way messages are synchronous: no promise is made for those. */
  private runOneWay(peer: NodeId, engine: Engine, req: Request): void {
    try {
      const done = engine.handle(req)
      if (done instanceof Promise) done.catch((error: unknown) => this.events.emit('handler-error', { peer, method: req.method, error }))
    } catch (error) {
      this.events.emit('handler-error', { peer, method: req.method, error })
    }
  }

  private settle(id: number, peer: NodeId | undefined, fn: (p: Pending) => void): void {
    const p = this.pending.get(id)
    if (!p) return // late answer after a timeout, or a duplicate: nothing waits for it
    if (peer !== undefined && p.node !== peer) return this.malformed(peer, `response ${id} meant to come from ${p.node}`)
    this.pending.delete(id)
    fn(p)
  }

  private expire(id: number): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    if (!p.sent) this.unqueue(p.node, id)
    p.reject(new TimeoutError(`request ${p.method} to ${p.node}`, p.timeoutMs, { sent: p.sent }))
  }

  /**
   * Fails every request waiting on `peer`. One still in the outbox is taken out: it must not leave
   * later (on a link that comes back before the flush) after its caller was told it never did.
   */
  private failPending(peer: NodeId, err: (sent: boolean) => Error): void {
    for (const [id, p] of this.pending) {
      if (p.node !== peer) continue
      if (!p.sent) this.unqueue(peer, id)
      this.settle(id, undefined, (x) => x.reject(err(x.sent)))
    }
  }

  /** Takes request `id` out of the outbox to `node`, if it is still there. */
  private unqueue(node: NodeId, id: number): void {
    const box = this.outbox.get(node)
    if (!box) return
    const at = box.findIndex((e) => e.t === 'req' && e.id === id)
    if (at >= 0) box.splice(at, 1)
  }

  private malformed(peer: NodeId, reason: string): void {
    this.metrics.malformed++
    const count = (this.malformedBy.get(peer) ?? 0) + 1
    this.malformedBy.set(peer, count)
    this.events.emit('malformed', { peer, reason, count })
    if (count === (this.opts.maxMalformedPerPeer ?? 100)) {
      this.events.emit('peer-banned', { peer, reason: `sent ${count} malformed frames` })
      this.opts.transport.disconnect(peer, 'too many malformed frames')
    }
  }
}

const nodeOf = (a: Address): NodeId => (isExact(a) ? a.nodeId : ('' as NodeId))

/**
 * One-way messages of one flush that share sender, receiver and method travel as one `msgs`
 * envelope, at the place of the first, in their order. A later message may so overtake a request
 * or answer queued between them; one-way streams (replication, watch notices) order only among
 * themselves, which a group keeps.
 */
function groupMessages(envs: readonly Envelope[]): Envelope[] {
  const out: Envelope[] = []
  const groups = new Map<string, MessagesEnvelope>()
  for (const e of envs) {
    if (e.t !== 'msg') {
      out.push(e)
      continue
    }
    const key = `${formatAddress(e.from)} ${formatAddress(e.to)} ${e.m}`
    const g = groups.get(key)
    if (g) g.bs.push(e.b)
    else {
      const first: MessagesEnvelope = { t: 'msgs', from: e.from, to: e.to, m: e.m, bs: [e.b] }
      groups.set(key, first)
      out.push(first)
    }
  }
  // A group of one goes as a plain message: the smaller envelope, and what older peers expect.
  return out.map((e) => (e.t === 'msgs' && e.bs.length === 1 ? { t: 'msg', from: e.from, to: e.to, m: e.m, b: e.bs[0] } : e))
}
