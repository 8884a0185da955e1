/**
 * Child process of webrtc-exit.test.ts: a dialer whose link is given up before its data channel
 * opened (as an attempt replaced by a newer one while the nodes join is), then nothing else. Prints "destroyed"; the test
 * checks that the process then exits by itself.
 */
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { RtcPeer, type RtcPeerConnectionClass } from '../../src/transport/rtc-peer.js'

const peer = new RtcPeer(RTCPeerConnection as unknown as RtcPeerConnectionClass, { iceServers: [] }, true, {
  signal() {},
  connect() {},
  data() {},
  close() {},
})
peer.destroy()
console.log('destroyed')
