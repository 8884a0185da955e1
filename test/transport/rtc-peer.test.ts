/**
 * One RtcPeer pair over node-datachannel, with the signals handed over in a bad order: relayed
 * through etcd (several topology instances), a candidate can overtake the description it belongs to.
 */
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { afterEach, describe, expect, it } from 'vitest'
import { RtcPeer, type RtcPeerConnectionClass, type RtcSignal } from '../../src/transport/rtc-peer.js'
import { waitFor } from '../helpers/wait.js'

/** node-datachannel's connection, counting the candidates it has handed to RtcPeer. */
class CountingPC extends (RTCPeerConnection as unknown as RtcPeerConnectionClass) {
  candidates = 0
  constructor(config?: RTCConfiguration) {
    super(config)
    // Listeners run in the order they were added: the polyfill's own (which calls `onicecandidate`,
    // RtcPeer's handler) comes first, so RtcPeer has seen every candidate counted here.
    this.addEventListener('icecandidate', (e) => {
      if ((e as RTCPeerConnectionIceEvent).candidate) this.candidates++
    })
  }
}

const peers: RtcPeer[] = []
afterEach(() => {
  for (const p of peers.splice(0)) p.destroy()
})

function pair(): { a: RtcPeer; b: RtcPeer; out: { a: RtcSignal[]; b: RtcSignal[] }; state: { a: string; b: string } } {
  const out = { a: [] as RtcSignal[], b: [] as RtcSignal[] }
  const state = { a: 'new', b: 'new' }
  const handlers = (side: 'a' | 'b') => ({
    signal: (s: RtcSignal) => void out[side].push(s),
    connect: () => void (state[side] = 'open'),
    data: () => {},
    close: (reason: string) => void (state[side] = `closed: ${reason}`),
  })
  const a = new RtcPeer(CountingPC, { iceServers: [] }, true, handlers('a'))
  const b = new RtcPeer(CountingPC, { iceServers: [] }, false, handlers('b'))
  peers.push(a, b)
  return { a, b, out, state }
}

const gathered = (p: RtcPeer) => (p.pc as CountingPC).candidates
/** Candidates first, then the description: the worst order a relay can produce. */
const candidatesFirst = (signals: RtcSignal[]) => [...signals.filter((s) => s.type === 'candidate'), ...signals.filter((s) => s.type !== 'candidate')]

/** Relays every later signal, in whatever order, until both ends linked or closed. */
async function linked(p: ReturnType<typeof pair>): Promise<void> {
  const relay = setInterval(() => {
    for (const s of p.out.a.splice(0)) p.b.signal(s)
    for (const s of p.out.b.splice(0)) p.a.signal(s)
  }, 5)
  try {
    await waitFor(() => p.state.a !== 'new' && p.state.b !== 'new', 'both ends linked or closed', 15_000)
  } finally {
    clearInterval(relay)
  }
}

describe('RtcPeer', () => {
  it('the dialer tells no candidate before it has set the answer', { timeout: 20_000 }, async () => {
    // Told earlier, the answerer's checks reach the dialer's ICE agent, and setting the answer then
    // connects at once: the answerer's DTLS handshake could end before node-datachannel had stored
    // the answer, fail on its missing fingerprint and close the connection while it was being set.
    const p = pair()
    const { a, b, out } = p
    await waitFor(() => out.a.some((s) => s.type === 'offer') && gathered(a) > 0, 'the offer and a gathered candidate of the dialer', 5000)
    expect(out.a.map((s) => s.type)).toEqual(['offer'])
    expect((out.a[0] as { sdp: string }).sdp).not.toMatch(/a=candidate:/)
    for (const s of out.a.splice(0)) b.signal(s)
    await waitFor(() => out.b.some((s) => s.type === 'answer'), 'the answer', 5000)
    for (const s of out.b.splice(0)) a.signal(s)
    // With the answer set, the candidates it held go out.
    await waitFor(() => out.a.some((s) => s.type === 'candidate'), 'the candidates of the dialer', 5000)
    await linked(p)
    expect(p.state).toEqual({ a: 'open', b: 'open' })
  })

  it('links when candidates arrive before the offer and before the answer', { timeout: 20_000 }, async () => {
    const p = pair()
    const { a, b, out } = p
    await waitFor(() => out.a.some((s) => s.type === 'offer'), 'the offer', 5000)
    // A dialer of an earlier version sends its candidates as it gathers them: one can come first.
    b.signal({ type: 'candidate', candidate: { candidate: 'candidate:1 1 UDP 2122317823 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } })
    for (const s of out.a.splice(0)) b.signal(s)
    await waitFor(() => (out.b.some((s) => s.type === 'answer') && out.b.some((s) => s.type === 'candidate')) || p.state.b !== 'new', 'the answer and a candidate', 5000)
    expect(p.state.b).toBe('new')
    for (const s of candidatesFirst(out.b.splice(0))) a.signal(s)
    await linked(p)
    expect(p.state).toEqual({ a: 'open', b: 'open' })
  })
})
