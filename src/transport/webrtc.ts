/**
 * The WebRTC mesh: one data channel per pair of members, set up through the topology service's
 * signal relay. The node with the lower id dials; each attempt has its own connection id, so
 * signals of an abandoned attempt are ignored. Frames larger than a chunk are split (the channel is
 * ordered and reliable, so reassembly is a concatenation) and sending backs off while the channel's
 * buffer is full. A dropped channel is dialled again with backoff while the peer is a member.
 * Browser-safe: it uses the standard `RTCPeerConnection`, the browser's own by default; the Node
 * entry's `WebRtcTransport` (./webrtc-node.ts) passes node-datachannel's polyfill.
 */
import { ClosedError, DomainMeshError, NotConnectedError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { RealClock, type Clock, type TimerHandle } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { byeChunk, ChunkAssembler, chunkFrame, isBye } from './chunking.js'
import { channelErrorReason, RtcPeer, type RtcPeerConnectionClass } from './rtc-peer.js'
import type { Transport, TransportEvents } from './transport.js'

/** No `RTCPeerConnection` here: not a browser, and none was passed (Node: import from the package's Node entry). */
export class NoWebRtcError extends DomainMeshError {
  constructor() {
    super('NO_WEBRTC', 'no RTCPeerConnection in this environment: pass one as the RTCPeerConnection option (in Node, the Node entry of domainmesh does, with node-datachannel)')
  }
}

/**
 * How signals reach another member (the topology client, in practice). `client`: the topology
 * service says the sender was admitted as a client (a client cannot say so itself).
 */
export interface Signaling {
  signal(to: NodeId, data: unknown): void
  onSignal(handler: (from: NodeId, data: unknown, meta?: { client?: boolean }) => void): () => void
}

/** A transport that is told whom to connect to and how to signal. */
export interface MeshTransport extends Transport {
  attachSignaling(signaling: Signaling): void
  setMembers(members: readonly NodeId[]): void
  /** The signaling channel came back (a reconnect): attempts that were dialled meanwhile start over. */
  redialPending?(): void
  /** Whether `peer`'s link is a client's (see ClientGate); a member's links never are. */
  isClient?(peer: NodeId): boolean
}

export interface WebRtcTransportOptions {
  /** ICE servers; empty by default, so nothing but the hosts' own addresses is ever contacted. */
  iceServers?: RTCIceServer[]
  /** Extra RTCPeerConnection settings, e.g. `{ bindAddress: '127.0.0.1' }` for node-datachannel. */
  rtcConfig?: Record<string, unknown>
  /**
   * The `RTCPeerConnection` class to use: `globalThis.RTCPeerConnection` by default (browsers).
   * The Node entry's `WebRtcTransport` defaults to `node-datachannel/polyfill`.
   */
  RTCPeerConnection?: RtcPeerConnectionClass
  clock?: Clock
  /** Give up on an attempt that has not connected after this long, and dial again. */
  connectTimeoutMs?: number
  /** Stop sending into a channel holding more than this many bytes; queue instead. */
  highWaterMark?: number
  chunkSize?: number
  /**
   * 'member' (default): links to every member of the view, dialled by the lower id, and answers
   * clients. 'client': dials only the members it is asked to (`dialMember`), answers nobody.
   */
  role?: 'member' | 'client'
}

interface Link {
  peer: RtcPeer
  cid: string
  connected: boolean
  timer: TimerHandle | undefined
  assembler: ChunkAssembler
  queue: Uint8Array[]
  /** Our chunk size, or less if the far side's negotiated maximum message size is smaller. */
  chunkSize: number
}

const BLOCK_MS = 30_000
/** Why a link went down when its peer left it on purpose. */
const PEER_CLOSED = 'peer closed the link'

export { channelErrorReason }

/**
 * libdatachannel's words for a send into a channel or connection that has gone. "Sending failed,
 * errno=N" passes on usrsctp's send error: ENOENT (2) when the association is no longer there,
 * EPIPE (32) when it is shutting down, ECONNRESET (104) when the far side aborted it.
 */
const CLOSED_SEND = /\bclosed\b|\bnot open\b|not 'open'|has no transport|Sending failed, errno=(2|32|104)$/i

/**
 * Why a send into a link threw. node-datachannel frees a channel as soon as it closes, while its
 * RTCDataChannel says 'open' until a tick later: a send in between finds a maximum message size
 * of 0, or libdatachannel says the channel "is closed" or "not open", the connection "is not
 * open", the channel "has no transport" (its SCTP association already torn down), or usrsctp
 * finds no association; a send after
 * that finds the readyState not 'open'. All are a closed channel, and are reported as one.
 */
export const sendErrorReason = (err: unknown, maxMessageSize: number | undefined): string => {
  const message = err instanceof Error ? err.message : String(err)
  return maxMessageSize === 0 || CLOSED_SEND.test(message) ? 'channel closed' : `send failed: ${message}`
}

/** The signal a member sends to the member that dials it, when it has no link to it: dial again. */
const REDIAL = 'redial'

/** Longest a closing link waits for its BYE to leave before the connection is destroyed. */
const FAREWELL_MS = 100

export class WebRtcTransport implements MeshTransport {
  /** `byesLost`: goodbyes that could not be sent (the channel had gone already). */
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dials: 0, queued: 0, byesLost: 0 }
  private id: NodeId | undefined
  private readonly events = new Emitter<TransportEvents>()
  private readonly links = new Map<NodeId, Link>()
  private readonly redial = new Map<NodeId, { timer: TimerHandle; backoff: number }>()
  private readonly blocked = new Map<NodeId, number>()
  private members = new Set<NodeId>()
  /** Peers whose signals the topology service marked as a client's: their links are clients'. */
  private readonly clientPeers = new Set<NodeId>()
  /** A client's calls waiting for a link it dials (`dialMember`). */
  private readonly waiters = new Map<NodeId, { resolve: () => void; reject: (err: Error) => void }[]>()
  /** Members that left the view (down or gone): one that comes back is asked to dial again. */
  private readonly departed = new Set<NodeId>()
  private signaling: Signaling | undefined
  private offSignal: (() => void) | undefined
  /** Signals that arrived between joining the topology service and `connect` (a peer may dial at once). */
  private early: [NodeId, unknown, boolean][] = []
  private state: 'new' | 'open' | 'closed' = 'new'
  private readonly clock: Clock
  private readonly chunkSize: number
  private readonly highWaterMark: number
  private readonly RTCPeerConnection: RtcPeerConnectionClass | undefined

  constructor(private readonly opts: WebRtcTransportOptions = {}) {
    this.RTCPeerConnection = opts.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: RtcPeerConnectionClass }).RTCPeerConnection
    this.clock = opts.clock ?? new RealClock()
    this.chunkSize = opts.chunkSize ?? 16 * 1024
    this.highWaterMark = opts.highWaterMark ?? 4 * 1024 * 1024
  }

  get self(): NodeId | undefined {
    return this.id
  }

  get role(): 'member' | 'client' {
    return this.opts.role ?? 'member'
  }

  attachSignaling(signaling: Signaling): void {
    this.offSignal?.()
    this.signaling = signaling
    this.offSignal = signaling.onSignal((from, data, meta) => this.onSignal(from, data, meta?.client === true))
  }

  private get isClientRole(): boolean {
    return this.role === 'client'
  }

  isClient(peer: NodeId): boolean {
    return this.clientPeers.has(peer)
  }

  /**
   * A client's link to one member, dialled now if there is none; resolves once it is up. Rejects
   * with NotConnectedError when the attempt fails or times out (the caller may go through another
   * member instead).
   */
  dialMember(peer: NodeId): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ClosedError('WebRTC transport'))
    if (this.links.get(peer)?.connected) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(peer) ?? []
      list.push({ resolve, reject })
      this.waiters.set(peer, list)
      if (!this.links.has(peer)) {
        if (this.isBlocked(peer)) return this.settleWaiters(peer, new NotConnectedError(`link to ${peer} (blocked for a while after it was cut)`, { sent: false }))
        this.stats.dials++
        this.open(peer, randomCid(), true)
      }
    })
  }

  /** Closes a link this side no longer needs (a client's idle link), saying goodbye; no block, no redial. */
  release(peer: NodeId): void {
    const link = this.links.get(peer)
    if (!link) return
    this.drop(peer, 'released (idle)', false, undefined, false)
    void this.farewell(link)
  }

  private settleWaiters(peer: NodeId, err?: Error): void {
    const list = this.waiters.get(peer)
    if (!list) return
    this.waiters.delete(peer)
    for (const w of list) err ? w.reject(err) : w.resolve()
  }

  async connect(self: NodeId): Promise<void> {
    if (this.state !== 'new') throw new ClosedError('WebRTC transport')
    if (!this.signaling) throw new NotConnectedError('WebRTC transport has no signaling (join through a topology service)')
    if (!this.RTCPeerConnection) throw new NoWebRtcError()
    this.id = self
    this.state = 'open'
    this.setMembers([...this.members])
    for (const [from, data, client] of this.early.splice(0)) this.onSignal(from, data, client)
  }

  /** The up members of the current view: dial the ones we lead, drop links to the ones gone. */
  setMembers(members: readonly NodeId[]): void {
    const before = this.members
    this.members = new Set(members.filter((m) => m !== this.id))
    if (this.state !== 'open') return
    if (this.isClientRole) {
      for (const m of [...this.links.keys()]) if (!this.members.has(m)) this.drop(m, 'left the view', false)
      return
    }
    for (const m of this.members) if (!this.links.has(m) && this.leads(m) && !this.redial.has(m)) this.dial(m)
    // A member back in the view that dials us: it may still hold the link we dropped when it
    // left (a paused process does not see the close), and would never dial again. Ask it to.
    for (const m of before) if (!this.members.has(m)) this.departed.add(m)
    for (const m of this.members) {
      if (before.has(m) || !this.departed.delete(m)) continue
      if (!this.links.has(m) && !this.leads(m)) this.signaling?.signal(m, { cid: REDIAL })
    }
    // A client is in no view: its link stays until it closes it or goes.
    for (const m of [...this.links.keys()]) if (!this.members.has(m) && !this.clientPeers.has(m)) this.drop(m, 'left the view', false)
  }

  /**
   * Signals sent while the topology service did not count us as a member (a resumed process,
   * before its new hello) were refused, not queued: the attempts they belong to would wait out
   * their whole connect timeout. The ones we lead start over at once.
   */
  redialPending(): void {
    if (this.state !== 'open') return
    for (const [peer, link] of [...this.links]) {
      if (link.connected || !this.leads(peer) || this.isClientRole) continue
      this.drop(peer, 'signaling reconnected', false, link)
      if (this.members.has(peer)) this.dial(peer)
    }
  }

  send(to: NodeId, bytes: Uint8Array): void {
    const link = this.links.get(to)
    if (this.state !== 'open' || !link?.connected) throw new NotConnectedError(`send to ${to}`)
    this.stats.framesOut++
    this.stats.bytesOut += bytes.byteLength
    for (const chunk of chunkFrame(bytes, link.chunkSize)) link.queue.push(chunk)
    this.pump(to, link)
  }

  peers(): NodeId[] {
    return [...this.links].filter(([, l]) => l.connected).map(([id]) => id)
  }

  linked(peer: NodeId): boolean {
    return this.links.get(peer)?.connected === true
  }

  disconnect(peer: NodeId, reason: string): void {
    this.blocked.set(peer, this.clock.now() + BLOCK_MS)
    const link = this.links.get(peer)
    this.drop(peer, reason, false, undefined, false)
    if (link) void this.farewell(link)
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.early = []
    this.offSignal?.()
    for (const r of this.redial.values()) this.clock.clearTimeout(r.timer)
    this.redial.clear()
    for (const peer of [...this.waiters.keys()]) this.settleWaiters(peer, new ClosedError('WebRTC transport', { sent: false }))
    const links = [...this.links]
    for (const [id] of links) this.drop(id, 'closed', false, undefined, false)
    this.events.removeAll()
    await Promise.all(links.map(([, link]) => this.farewell(link)))
  }

  /**
   * Says goodbye on a link we leave (a BYE chunk after whatever is queued) and destroys it once
   * that is out, or after FAREWELL_MS. The far side then learns at once; without it, it learned
   * from the channel's close, which a connection destroyed at once did not always get out (the
   * far side then waited for ICE to time out: a conformance test failed now and then).
   */
  private async farewell(link: Link): Promise<void> {
    if (link.connected) {
      link.queue.push(byeChunk())
      const until = this.clock.now() + FAREWELL_MS
      try {
        for (;;) {
          this.flushQueue(link)
          if ((link.queue.length === 0 && link.peer.bufferSize === 0) || this.clock.now() >= until) break
          await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 5))
        }
      } catch {
        // The channel is gone already: there is nobody left to tell, so only count it.
        this.stats.byesLost++
      }
    }
    link.peer.destroy()
  }

  on<K extends keyof TransportEvents>(event: K, listener: (p: TransportEvents[K]) => void): () => void {
    return this.events.on(event, listener)
  }

  private leads(peer: NodeId): boolean {
    return this.id !== undefined && this.id < peer
  }

  private isBlocked(peer: NodeId): boolean {
    const until = this.blocked.get(peer)
    if (until === undefined) return false
    if (this.clock.now() < until) return true
    this.blocked.delete(peer)
    return false
  }

  private dial(peer: NodeId): void {
    if (this.isBlocked(peer)) return this.scheduleRedial(peer)
    this.stats.dials++
    this.open(peer, randomCid(), true)
  }

  private open(peerId: NodeId, cid: string, initiator: boolean): Link {
    const config = { ...this.opts.rtcConfig, iceServers: this.opts.iceServers ?? [] } as RTCConfiguration
    let link: Link | undefined
    const peer = new RtcPeer(this.RTCPeerConnection!, config, initiator, {
      signal: (data) => this.signaling?.signal(peerId, { cid, data }),
      connect: () => {
        if (!link || this.links.get(peerId) !== link || this.state !== 'open') return
        link.connected = true
        if (link.timer) this.clock.clearTimeout(link.timer)
        link.timer = undefined
        this.redial.delete(peerId)
        // The SDP negotiates the largest message the far side takes: a chunk never exceeds it.
        const max = peer.maxMessageSize
        if (max !== undefined && max > 1 && max < link.chunkSize) link.chunkSize = max
        const l = link
        peer.channel?.addEventListener('bufferedamountlow', () => this.pump(peerId, l))
        this.events.emit('peer-up', { peer: peerId })
        this.settleWaiters(peerId)
      },
      data: (bytes) => link && this.onData(peerId, link, bytes),
      close: (reason) => link && this.drop(peerId, reason, true, link),
    })
    link = { peer, cid, connected: false, timer: undefined, assembler: new ChunkAssembler(), queue: [], chunkSize: this.chunkSize }
    this.links.set(peerId, link)
    const l = link
    link.timer = this.clock.setTimeout(() => {
      if (this.links.get(peerId) === l && !l.connected) this.drop(peerId, 'connect timeout', true)
    }, this.opts.connectTimeoutMs ?? 15_000)
    return link
  }

  private onSignal(from: NodeId, raw: unknown, client = false): void {
    if (this.state === 'new' && this.early.length < 1000) return void this.early.push([from, raw, client])
    if (this.state !== 'open' || this.isBlocked(from)) return
    const msg = raw as { cid?: unknown; data?: unknown }
    if (this.isClientRole) {
      // A client answers nobody: only the far ends of the links it dialled.
      const link = this.links.get(from)
      if (!link || !msg || link.cid !== msg.cid || msg.data === undefined) return
      try {
        link.peer.signal(msg.data as never)
      } catch (err) {
        this.drop(from, `bad signal: ${(err as Error).message}`, true, link)
      }
      return
    }
    if (client) {
      // A member never dials a client: each attempt of the client's is answered, whoever's id is lower.
      if (msg?.cid === REDIAL || !msg || typeof msg.cid !== 'string' || msg.data === undefined) return
      let link = this.links.get(from)
      if (!link || link.cid !== msg.cid) {
        if (link) this.drop(from, 'replaced by a new attempt', false)
        link = this.open(from, msg.cid, false)
      }
      this.clientPeers.add(from)
      try {
        link.peer.signal(msg.data as never)
      } catch (err) {
        this.drop(from, `bad signal: ${(err as Error).message}`, false, link)
      }
      return
    }
    if (this.clientPeers.has(from)) return // a client's id: its signals come marked, or not at all
    if (msg?.cid === REDIAL) {
      // The peer has no link to us: whatever we hold is dead; dial afresh.
      if (!this.leads(from) || !this.members.has(from)) return
      const stale = this.links.get(from)
      if (stale) this.drop(from, 'the peer asked to dial again', false, stale)
      if (!this.redial.has(from)) this.dial(from)
      return
    }
    if (!msg || typeof msg.cid !== 'string' || msg.data === undefined) return
    let link = this.links.get(from)
    if (!link || link.cid !== msg.cid) {
      // Only the side that does not lead answers a new attempt; a stale answer to us is ignored.
      if (this.leads(from)) return
      if (link) this.drop(from, 'replaced by a new attempt', false)
      link = this.open(from, msg.cid, false)
    }
    try {
      link.peer.signal(msg.data as never)
    } catch (err) {
      this.drop(from, `bad signal: ${(err as Error).message}`, true, link)
    }
  }

  private onData(from: NodeId, link: Link, data: Uint8Array): void {
    if (this.links.get(from) !== link || !link.connected) return
    if (isBye(data)) return this.drop(from, PEER_CLOSED, true, link)
    const frame = link.assembler.push(data)
    if (frame === undefined) return
    if (frame instanceof Error) return this.drop(from, frame.message, true, link)
    this.stats.framesIn++
    this.stats.bytesIn += frame.byteLength
    this.events.emit('frame', { from, bytes: frame })
  }

  /** Sends queued chunks while the channel's buffer has room; `bufferedamountlow` resumes it. */
  private pump(peerId: NodeId, link: Link): void {
    try {
      this.flushQueue(link)
    } catch (err) {
      this.drop(peerId, sendErrorReason(err, link.peer.maxMessageSize), true, link)
    }
  }

  private flushQueue(link: Link): void {
    while (link.queue.length > 0) {
      if (link.peer.bufferSize > this.highWaterMark) {
        this.stats.queued++
        return
      }
      link.peer.send(link.queue.shift()!)
    }
  }

  /** Forgets the link; `destroy` false leaves closing the connection to `farewell`. */
  private drop(peerId: NodeId, reason: string, retry: boolean, only?: Link, destroy = true): void {
    const link = this.links.get(peerId)
    if (!link || (only && link !== only)) return
    this.links.delete(peerId)
    if (link.timer) this.clock.clearTimeout(link.timer)
    if (destroy) link.peer.destroy()
    if (link.connected) this.events.emit('peer-down', { peer: peerId, reason })
    this.settleWaiters(peerId, new NotConnectedError(`link to ${peerId} (${reason})`, { sent: false }))
    // The next link of this id is a client's again only if the service marks its signals so.
    this.clientPeers.delete(peerId)
    if (retry && this.state === 'open' && !this.isClientRole && this.members.has(peerId) && this.leads(peerId)) this.scheduleRedial(peerId)
  }

  private scheduleRedial(peer: NodeId): void {
    const prev = this.redial.get(peer)
    if (prev) this.clock.clearTimeout(prev.timer)
    const backoff = Math.min((prev?.backoff ?? 100) * 2, 5000)
    const timer = this.clock.setTimeout(() => {
      this.redial.delete(peer)
      if (this.state === 'open' && this.members.has(peer) && !this.links.has(peer)) this.dial(peer)
    }, backoff)
    this.redial.set(peer, { timer, backoff })
  }
}

function randomCid(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('')
}
