/**
 * One WebRTC data channel to one peer, on the standard `RTCPeerConnection` API: native in
 * browsers, `node-datachannel/polyfill` in Node (the Node entry passes it in). It replaces
 * @thaunknown/simple-peer, whose only Node path (webrtc-polyfill → node-datachannel 0.32) runs an
 * install script that downloads a binary from GitHub, and whose stream layer cost browser apps
 * about 17 kB gzip: see docs/design.md, "WebRTC without simple-peer".
 *
 * The signals keep simple-peer's shape (`{ type: 'offer' | 'answer', sdp }` and
 * `{ type: 'candidate', candidate }`), so a node of this version still links with a 0.1 node.
 */

/** A constructor of standard peer connections: `globalThis.RTCPeerConnection` or a polyfill's. */
export type RtcPeerConnectionClass = new (config?: RTCConfiguration) => RTCPeerConnection

export interface RtcPeerHandlers {
  /** A signal for the far side (through the topology service's relay). */
  signal(data: RtcSignal): void
  /** The data channel is open. */
  connect(): void
  /** A binary message arrived. */
  data(bytes: Uint8Array): void
  /** The link is gone (said once; never after `destroy`). */
  close(reason: string): void
}

export type RtcSignal = { type: 'offer' | 'answer'; sdp: string } | { type: 'candidate'; candidate: RTCIceCandidateInit }

/** The label simple-peer's dialer gave its channel did not matter to the answerer; neither does ours. */
const LABEL = 'domainmesh'
/** `bufferedamountlow` fires when the channel's buffer drains below this (simple-peer's value). */
const LOW_WATER = 64 * 1024

/**
 * The reason a channel error gives the layers above. The far side destroying its connection reaches
 * a browser as an SCTP "User-Initiated Abort": the peer left, as its BYE says when that gets out first.
 */
export const channelErrorReason = (err: { message: string }): string =>
  /User-Initiated Abort/.test(err.message) ? PEER_LEFT : `channel error: ${err.message}`

/** Why a link went down when its peer left it on purpose (the same words as its BYE). */
const PEER_LEFT = 'peer closed the link'

export class RtcPeer {
  readonly pc: RTCPeerConnection
  /** The data channel: the dialer's own, or the one the answerer was given. */
  channel: RTCDataChannel | undefined
  private done = false
  /** Remote signals are applied one at a time: `setRemoteDescription` is asynchronous. */
  private chain: Promise<void> = Promise.resolve()
  /**
   * Remote candidates that came before the description they belong to: signals relayed through
   * etcd (several topology instances) can overtake each other. Whether the description is set is
   * our own flag: node-datachannel's polyfill answers `remoteDescription` with an empty
   * description before one is set, so a candidate first was applied at once, failed, and ended
   * the link (a third of cold starts over etcd took 15-30 s to link every pair).
   */
  private pending: RTCIceCandidateInit[] = []
  private remoteSet = false
  /**
   * Our own candidates, held until the far side's description is set here (the dialer's until the
   * answer; the answerer gathers only once it has set the offer). A far side that knows where we
   * are reaches our ICE agent, which answers its checks before it has the answer and remembers
   * where they came from. libdatachannel hands the answer to ICE before it stores it for DTLS, so
   * ICE then connects at once, and the answerer (the DTLS client) can get through its handshake
   * in between: its certificate is checked against no fingerprint yet, the handshake fails and the
   * connection closes while the answer is still being set ("Got a remote candidate without ICE
   * transport", when the machine is loaded). Held back, nothing reaches us before the answer is in
   * place. The offer goes without candidates for the same reason.
   */
  private unsent: RTCIceCandidateInit[] = []

  constructor(
    RTCPeerConnection: RtcPeerConnectionClass,
    config: RTCConfiguration,
    initiator: boolean,
    private readonly on: RtcPeerHandlers,
  ) {
    this.pc = new RTCPeerConnection(config)
    this.pc.onicecandidate = (e) => {
      if (this.done || !e.candidate) return
      const { candidate, sdpMid, sdpMLineIndex } = e.candidate
      if (this.remoteSet) this.on.signal({ type: 'candidate', candidate: { candidate, sdpMid, sdpMLineIndex } })
      else this.unsent.push({ candidate, sdpMid, sdpMLineIndex })
    }
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState
      // Our own close takes these handlers off first, so 'closed' here is the far side closing
      // its connection on purpose: the peer left, as its BYE says when that gets out first (a
      // BYE can still sit in the SCTP queue when the leaving side destroys the connection, and
      // under load it sometimes does). 'failed' is the network.
      if (state === 'closed') this.fail(PEER_LEFT)
      else if (state === 'failed') this.fail('connection failed')
    }
    if (initiator) {
      this.attach(this.pc.createDataChannel(LABEL, { ordered: true }))
      this.run(async () => {
        await this.pc.setLocalDescription(await this.pc.createOffer())
        this.sendDescription()
      })
    } else {
      this.pc.ondatachannel = (e) => {
        if (!this.channel) this.attach(e.channel)
      }
    }
  }

  /** Applies a signal from the far side; one that cannot be applied ends the link. */
  signal(data: unknown): void {
    const msg = data as Partial<{ type: string; sdp: string; candidate: RTCIceCandidateInit }>
    if (msg?.type === 'offer' || msg?.type === 'answer') {
      const description = { type: msg.type, sdp: String(msg.sdp) } as const
      this.run(async () => {
        await this.pc.setRemoteDescription(description)
        this.remoteSet = true
        for (const c of this.pending.splice(0)) await this.pc.addIceCandidate(c)
        if (description.type === 'offer') {
          await this.pc.setLocalDescription(await this.pc.createAnswer())
          this.sendDescription()
        }
        for (const candidate of this.unsent.splice(0)) if (!this.done) this.on.signal({ type: 'candidate', candidate })
      })
    } else if (msg?.type === 'candidate' && msg.candidate && typeof msg.candidate === 'object') {
      const candidate = msg.candidate
      this.run(async () => {
        if (this.remoteSet) await this.pc.addIceCandidate(candidate)
        else this.pending.push(candidate)
      })
    }
    // Other simple-peer signals (renegotiate, transceiverRequest) concern media: not used here.
  }

  /** Bytes accepted by `send` that have not left yet. */
  get bufferSize(): number {
    return this.channel?.bufferedAmount ?? 0
  }

  /** The largest message the far side takes, once connected (where the stack tells). */
  get maxMessageSize(): number | undefined {
    const max = this.pc.sctp?.maxMessageSize
    return typeof max === 'number' ? max : undefined
  }

  send(bytes: Uint8Array): void {
    if (!this.channel) throw new Error('the channel is closed')
    this.channel.send(bytes as Uint8Array<ArrayBuffer>)
  }

  /** Closes the connection; the handlers hear `close('destroyed')` unless the link had ended already. */
  destroy(): void {
    this.fail('destroyed')
  }

  private attach(channel: RTCDataChannel): void {
    this.channel = channel
    channel.binaryType = 'arraybuffer'
    channel.bufferedAmountLowThreshold = LOW_WATER
    channel.onopen = () => {
      if (!this.done) this.on.connect()
    }
    channel.onmessage = (event: MessageEvent) => {
      if (this.done) return
      const data: unknown = event.data
      if (data instanceof ArrayBuffer) this.on.data(new Uint8Array(data))
      else if (ArrayBuffer.isView(data)) this.on.data(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      // domainmesh never sends text: a peer that does is not one of ours.
      else this.fail(`a ${typeof data} message on the binary channel`)
    }
    // As for the connection above: our own close takes this handler off first, so a channel that
    // closes here was closed by the far side, on purpose (its BYE may not have got out first).
    channel.onclose = () => this.fail(PEER_LEFT)
    channel.onerror = (event: Event) => {
      const error = (event as Event & { error?: { message?: string } }).error
      this.fail(channelErrorReason({ message: error?.message ?? 'unknown' }))
    }
  }

  private sendDescription(): void {
    const d = this.pc.localDescription
    if (!d || this.done) return
    // The local description lists the candidates gathered so far (node-datachannel's does): an
    // offer goes without them, as they wait for the answer (see `unsent`).
    const sdp = d.type === 'offer' ? withoutCandidates(d.sdp) : d.sdp
    this.on.signal({ type: d.type as 'offer' | 'answer', sdp })
  }

  private run(step: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.done) return
      try {
        await step()
      } catch (err) {
        this.fail(`bad signal: ${err instanceof Error ? err.message : String(err)}`)
      }
    })
  }

  private fail(reason: string): void {
    if (this.done) return
    this.done = true
    const channel = this.channel
    if (channel) channel.onopen = channel.onmessage = channel.onclose = channel.onerror = null
    this.pc.onicecandidate = this.pc.onconnectionstatechange = this.pc.ondatachannel = null
    // Closing the connection closes an open channel too, and lets what it still buffers (the
    // farewell) out first; closing that channel itself as well would not. A channel that never
    // opened (an attempt given up for a newer one while the nodes join) is closed explicitly: node-datachannel never reports
    // it closed with its connection, and its native callbacks kept the Node process alive after
    // every node had closed. node-datachannel's channel.close() reaches the native channel a tick
    // later, after the connection's close; that is harmless there.
    try {
      if (channel?.readyState === 'connecting') channel.close()
      this.pc.close()
    } finally {
      this.on.close(reason)
    }
  }
}

/** An SDP without its candidate lines, which then come as candidate signals. */
const withoutCandidates = (sdp: string): string =>
  sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
    .join('\r\n')
