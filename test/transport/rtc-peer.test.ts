/**
 * One RtcPeer pair over node-datachannel, with the signals handed over in a bad order: relayed
 * through etcd (several topology instances), a candidate can overtake the description it belongs to.
 */
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { afterEach, describe, expect, it } from 'vitest'
import { RtcPeer, type RtcPeerConnectionClass, type RtcSignal } from '../../src/transport/rtc-peer.js'
import { waitFor } from '../helpers/wait.js'

const PC = RTCPeerConnection as unknown as RtcPeerConnectionClass
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
  const a = new RtcPeer(PC, { iceServers: [] }, true, handlers('a'))
  const b = new RtcPeer(PC, { iceServers: [] }, false, handlers('b'))
  peers.push(a, b)
  return { a, b, out, state }
}

/** Candidates first, then the description: the worst order a relay can produce. */
const candidatesFirst = (signals: RtcSignal[]) => [...signals.filter((s) => s.type === 'candidate'), ...signals.filter((s) => s.type !== 'candidate')]

describe('RtcPeer', () => {
  it('links when every candidate arrives before the offer and before the answer', { timeout: 20_000 }, async () => {
    const { a, b, out, state } = pair()
    await waitFor(() => out.a.some((s) => s.type === 'offer') && out.a.some((s) => s.type === 'candidate'), 'the offer and a candidate of the dialer', 5000)
    for (const s of candidatesFirst(out.a.splice(0))) b.signal(s)
    await waitFor(() => out.b.some((s) => s.type === 'answer') && out.b.some((s) => s.type === 'candidate') || state.b !== 'new', 'the answer and a candidate', 5000)
    expect(state.b).toBe('new')
    for (const s of candidatesFirst(out.b.splice(0))) a.signal(s)
    // Later candidates, in whatever order, go straight through.
    const relay = setInterval(() => {
      for (const s of out.a.splice(0)) b.signal(s)
      for (const s of out.b.splice(0)) a.signal(s)
    }, 5)
    try {
      await waitFor(() => state.a !== 'new' && state.b !== 'new', 'both ends linked or closed', 15_000)
    } finally {
      clearInterval(relay)
    }
    expect(state).toEqual({ a: 'open', b: 'open' })
  })
})
