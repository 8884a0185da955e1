/**
 * In-process transport for tests and simulation. Frames are delivered on microtasks (or after a
 * seeded delay on the injected clock), and a seeded fault plan can drop, delay, duplicate,
 * partition and crash. The same seed gives the same run.
 */
import { ClosedError, DomainMeshError, NotConnectedError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { FakeClock, type Clock } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { seededRandom, type Random } from '../util/random.js'
import type { Transport, TransportEvents } from './transport.js'

export interface Faults {
  /** Probability that a frame is silently lost. */
  drop?: number
  /** Probability that a frame is delivered twice. */
  duplicate?: number
  /** Probability that a frame is held back by a random delay (it may then overtake or be overtaken). */
  delay?: number
  /** Delay range in ms for delayed frames. */
  delayMs?: readonly [number, number]
}

export interface MemoryNetworkOptions {
  seed?: number
  clock?: Clock
  faults?: Faults
}

/**
 * Sees every frame as it is about to reach its receiver (tests: e.g. crash a node as a given
 * message arrives). 'hold' keeps the frame back until `release` is called for the pair.
 */
export type FrameTap = (from: NodeId, to: NodeId, bytes: Uint8Array) => 'deliver' | 'hold' | void

export interface NetworkStats {
  framesSent: number
  bytesSent: number
  dropped: number
  duplicated: number
  delayed: number
  delivered: number
}

export class DuplicateNodeError extends DomainMeshError {
  constructor(id: NodeId) {
    super('DUPLICATE_NODE', `node ${id} is already connected to this network`)
  }
}

export class MemoryNetwork {
  readonly clock: Clock
  readonly stats: NetworkStats = { framesSent: 0, bytesSent: 0, dropped: 0, duplicated: 0, delayed: 0, delivered: 0 }
  private readonly random: Random
  private faults: Faults
  private readonly nodes = new Map<NodeId, MemoryTransport>()
  /** Unordered pairs "a|b" whose link is cut by a partition. */
  private readonly cut = new Set<string>()
  /**
   * Paused nodes (a stopped process, SIGSTOP): what they send and what is sent to them waits
   * here, in order, until they resume. Their links stay up, as a stopped process's sockets do.
   */
  private readonly paused = new Map<NodeId, { dir: 'out' | 'in'; from: NodeId; to: NodeId; bytes: Uint8Array; link?: [MemoryTransport | undefined, MemoryTransport | undefined] }[]>()
  private tap: FrameTap | undefined
  /** Frames a tap held back, per "from>to". */
  private readonly held = new Map<string, { bytes: Uint8Array; link: [MemoryTransport | undefined, MemoryTransport | undefined] }[]>()

  constructor(opts: MemoryNetworkOptions = {}) {
    this.random = seededRandom(opts.seed ?? 1)
    this.clock = opts.clock ?? new FakeClock()
    this.faults = opts.faults ?? {}
  }

  createTransport(): MemoryTransport {
    return new MemoryTransport(this)
  }

  setFaults(faults: Faults): void {
    this.faults = faults
  }

  /** Cuts every link between a node of `a` and a node of `b`. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) {
      if (x === y || this.cut.has(pair(x, y))) continue
      this.cut.add(pair(x, y))
      this.nodes.get(x)?.linkDown(y, 'partitioned')
      this.nodes.get(y)?.linkDown(x, 'partitioned')
    }
  }

  /** Restores every cut link. */
  heal(): void {
    const cut = [...this.cut]
    this.cut.clear()
    for (const p of cut) {
      const [x, y] = p.split('|') as [NodeId, NodeId]
      const tx = this.nodes.get(x)
      const ty = this.nodes.get(y)
      if (tx && ty) {
        tx.linkUp(y)
        ty.linkUp(x)
      }
    }
  }

  /** The node dies without a goodbye: its transport goes silent and peers see it drop. */
  crash(id: NodeId): void {
    const t = this.nodes.get(id)
    if (!t) return
    this.paused.delete(id)
    this.detach(id, 'crashed')
    t.kill()
  }

  /** The node stops (SIGSTOP): nothing it sends leaves and nothing sent to it is handled until `resume`. */
  pause(id: NodeId): void {
    if (!this.paused.has(id)) this.paused.set(id, [])
  }

  /** The node goes on (SIGCONT): what it sent leaves and what was sent to it arrives, in order. */
  resume(id: NodeId): void {
    const queue = this.paused.get(id)
    if (!queue) return
    this.paused.delete(id)
    for (const f of queue) {
      if (f.dir === 'out') this.transmit(f.from, f.to, f.bytes)
      else queueMicrotask(() => this.deliver(f.from, f.to, f.bytes, f.link ?? this.lifeOf(f.from, f.to)))
    }
  }

  isPaused(id: NodeId): boolean {
    return this.paused.has(id)
  }

  /** Sets (or clears) the hook that sees every frame before its receiver does. */
  setTap(tap: FrameTap | undefined): void {
    this.tap = tap
  }

  /** Delivers the frames the tap held from `from` to `to`, in order. */
  release(from: NodeId, to: NodeId): void {
    const frames = this.held.get(`${from}>${to}`) ?? []
    this.held.delete(`${from}>${to}`)
    for (const { bytes, link } of frames) queueMicrotask(() => this.deliver(from, to, bytes, link, false))
  }

  isConnected(id: NodeId): boolean {
    return this.nodes.has(id)
  }

  /** @internal */
  attach(t: MemoryTransport, id: NodeId): void {
    if (this.nodes.has(id)) throw new DuplicateNodeError(id)
    this.nodes.set(id, t)
    for (const [other, ot] of this.nodes) {
      if (other === id || this.cut.has(pair(id, other))) continue
      t.linkUp(other)
      ot.linkUp(id)
    }
  }

  /** @internal */
  detach(id: NodeId, reason: string): void {
    if (!this.nodes.delete(id)) return
    for (const t of this.nodes.values()) t.linkDown(id, reason)
  }

  /** @internal */
  cutLink(a: NodeId, b: NodeId, reason: string): void {
    this.nodes.get(a)?.linkDown(b, reason)
    this.nodes.get(b)?.linkDown(a, reason)
  }

  /** @internal */
  transmit(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    const out = this.paused.get(from)
    if (out) {
      out.push({ dir: 'out', from, to, bytes: bytes.slice() })
      return
    }
    const link = this.lifeOf(from, to)
    this.stats.framesSent++
    this.stats.bytesSent += bytes.byteLength
    const f = this.faults
    if (f.drop && this.random() < f.drop) {
      this.stats.dropped++
      return
    }
    const copies = f.duplicate && this.random() < f.duplicate ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let i = 0; i < copies; i++) {
      const copy = bytes.slice()
      if (f.delay && this.random() < f.delay) {
        this.stats.delayed++
        const [lo, hi] = f.delayMs ?? [1, 50]
        this.clock.setTimeout(() => this.deliver(from, to, copy, link), lo + this.random() * (hi - lo))
      } else {
        queueMicrotask(() => this.deliver(from, to, copy, link))
      }
    }
  }

  /**
   * The two transports a frame travels between. A frame is delivered only if both are still the
   * ones it was sent between: a real link ends with either process, and nothing sent on it
   * reaches the peer's next life (the simulation once replayed a crashed node's delayed frames
   * to a resumed node after its restart, which no WebRTC channel does).
   */
  private lifeOf(from: NodeId, to: NodeId): [MemoryTransport | undefined, MemoryTransport | undefined] {
    return [this.nodes.get(from), this.nodes.get(to)]
  }

  private deliver(from: NodeId, to: NodeId, bytes: Uint8Array, link: [MemoryTransport | undefined, MemoryTransport | undefined], tapped = true): void {
    if (this.cut.has(pair(from, to)) || !this.nodes.has(from)) return
    if (this.nodes.get(from) !== link[0] || this.nodes.get(to) !== link[1]) return
    const inbox = this.paused.get(to)
    if (inbox) {
      inbox.push({ dir: 'in', from, to, bytes, link })
      return
    }
    if (tapped && this.tap?.(from, to, bytes) === 'hold') {
      const k = `${from}>${to}`
      if (!this.held.has(k)) this.held.set(k, [])
      this.held.get(k)!.push({ bytes, link })
      return
    }
    const t = this.nodes.get(to)
    if (t?.receive(from, bytes)) this.stats.delivered++
  }
}

const pair = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`)

export class MemoryTransport implements Transport {
  private id: NodeId | undefined
  private readonly links = new Set<NodeId>()
  private readonly events = new Emitter<TransportEvents>()
  private state: 'new' | 'open' | 'closed' = 'new'

  constructor(private readonly network: MemoryNetwork) {}

  get self(): NodeId | undefined {
    return this.id
  }

  async connect(self: NodeId): Promise<void> {
    if (this.state !== 'new') throw new ClosedError('memory transport')
    this.id = self
    this.state = 'open'
    this.network.attach(this, self)
  }

  send(to: NodeId, bytes: Uint8Array): void {
    if (this.state !== 'open' || !this.id) throw new NotConnectedError(`send to ${to}`)
    if (!this.links.has(to)) throw new NotConnectedError(`send to ${to}`)
    this.network.transmit(this.id, to, bytes)
  }

  peers(): NodeId[] {
    return [...this.links]
  }

  linked(peer: NodeId): boolean {
    return this.links.has(peer)
  }

  disconnect(peer: NodeId, reason: string): void {
    if (this.id) this.network.cutLink(this.id, peer, reason)
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return
    const id = this.id
    this.state = 'closed'
    this.links.clear()
    if (id) this.network.detach(id, 'closed')
    this.events.removeAll()
  }

  on<K extends keyof TransportEvents>(event: K, listener: (p: TransportEvents[K]) => void): () => void {
    return this.events.on(event, listener)
  }

  /** @internal */
  kill(): void {
    this.state = 'closed'
    this.links.clear()
    this.events.removeAll()
  }

  /** @internal */
  linkUp(peer: NodeId): void {
    if (this.state !== 'open' || this.links.has(peer)) return
    this.links.add(peer)
    queueMicrotask(() => {
      if (this.links.has(peer)) this.events.emit('peer-up', { peer })
    })
  }

  /** @internal */
  linkDown(peer: NodeId, reason: string): void {
    if (!this.links.delete(peer)) return
    this.events.emit('peer-down', { peer, reason })
  }

  /** @internal */
  receive(from: NodeId, bytes: Uint8Array): boolean {
    if (this.state !== 'open' || !this.links.has(from)) return false
    this.events.emit('frame', { from, bytes })
    return true
  }
}
