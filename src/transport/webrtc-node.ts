/**
 * The WebRTC transport for Node: the same transport, with node-datachannel's standard
 * `RTCPeerConnection` (its polyfill) unless another is passed. node-datachannel 0.33 ships its
 * native module as per-platform npm packages, so installing it downloads nothing else.
 */
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import type { RtcPeerConnectionClass } from './rtc-peer.js'
import { WebRtcTransport as BaseWebRtcTransport, type WebRtcTransportOptions } from './webrtc.js'

export class WebRtcTransport extends BaseWebRtcTransport {
  constructor(opts: WebRtcTransportOptions = {}) {
    super({ ...opts, RTCPeerConnection: opts.RTCPeerConnection ?? (RTCPeerConnection as unknown as RtcPeerConnectionClass) })
  }
}
