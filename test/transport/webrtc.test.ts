/**
 * The transport contract over real WebRTC (node-datachannel's standard RTCPeerConnection), signaled
 * through a real topology service. Runs inside the project's private network namespace.
 */
import { describe, expect, it } from 'vitest'
import { TopologyService } from '../../src/server/topology-service.js'
import { TopologyClient } from '../../src/topology/client.js'
import { localLinkPair } from '../../src/topology/local-link.js'
import { ChunkAssembler, chunkFrame } from '../../src/transport/chunking.js'
import { channelErrorReason, NoWebRtcError, sendErrorReason, WebRtcTransport as BrowserWebRtcTransport } from '../../src/transport/webrtc.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { runTransportTests, type TransportHarness } from '../conformance/transport.js'


/** Gives a WebRTC transport its own topology client: signaling and membership from the service. */
function meshMember(service: TopologyService, clock: RealClock, id: string, t: WebRtcTransport) {
  const client = new TopologyClient({
    clusterId: 'rtc',
    nodeId: id as never,
    secret: 's',
    clock,
    engines: () => [],
    connect: async () => {
      const [node, svc] = localLinkPair()
      service.accept(svc)
      return node
    },
  })
  t.attachSignaling(client.signaling())
  client.events.on('view', ({ view }) => t.setMembers(view.members.filter((m) => m.status === 'up').map((m) => m.nodeId)))
  return { t, client }
}

const newService = (clock: RealClock) => new TopologyService({ clusterId: 'rtc', secret: 's', clock, settings: { domainCount: 4, replicas: 2 }, heartbeatMs: 200, healDelayMs: 60_000 })

async function webrtcHarness(): Promise<TransportHarness> {
  const clock = new RealClock()
  const service = newService(clock)
  const clients: TopologyClient[] = []
  const transports: WebRtcTransport[] = []
  return {
    async create() {
      const t = new WebRtcTransport({ iceServers: [], connectTimeoutMs: 10_000 })
      transports.push(t)
      // The suite picks the node id at connect, so the topology client is made then.
      const connect = t.connect.bind(t)
      t.connect = async (id) => {
        const { client } = meshMember(service, clock, id, t)
        clients.push(client)
        await client.connect()
        await connect(id)
      }
      return t
    },
    async teardown() {
      for (const t of transports) await t.close()
      for (const c of clients) c.close()
      service.close()
      expect(clock.pending()).toBe(0)
    },
  }
}

runTransportTests('WebRtcTransport (node-datachannel)', webrtcHarness, 60_000)

/** Polls `cond` every 10 ms, at most `tries` times (the tests then check what they waited for). */
async function poll(cond: () => boolean, tries = 1000): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
}

/**
 * Two WebRTC transports, a and b, linked to each other; `listen` runs before they connect.
 * Tears everything down after `run`, whatever happens.
 */
async function withPair(run: (a: WebRtcTransport, b: WebRtcTransport) => Promise<void>, listen?: (a: WebRtcTransport, b: WebRtcTransport) => void): Promise<void> {
  const h = await webrtcHarness()
  try {
    const a = (await h.create()) as WebRtcTransport
    const b = (await h.create()) as WebRtcTransport
    listen?.(a, b)
    await a.connect('a' as never)
    await b.connect('b' as never)
    await poll(() => a.peers().length > 0 && b.peers().length > 0)
    await run(a, b)
  } finally {
    await h.teardown()
  }
}

describe('chunking', () => {
  it('splits at the chunk size and reassembles exactly', () => {
    for (const size of [0, 1, 15, 16, 17, 100, 1000]) {
      const frame = Uint8Array.from({ length: size }, (_, i) => i & 0xff)
      const chunks = chunkFrame(frame, 16)
      expect(chunks.every((c) => c.byteLength <= 16)).toBe(true)
      const asm = new ChunkAssembler()
      const outs = chunks.map((c) => asm.push(c))
      expect(outs.slice(0, -1).every((o) => o === undefined)).toBe(true)
      expect(outs[outs.length - 1]).toEqual(frame)
    }
  })

  it('reports a broken chunk stream instead of delivering garbage', () => {
    const asm = new ChunkAssembler()
    expect(asm.push(Uint8Array.of(9, 1))).toBeInstanceOf(Error)
    expect(asm.push(new Uint8Array(0))).toBeInstanceOf(Error)
    asm.push(Uint8Array.of(1, 1))
    expect(asm.push(Uint8Array.of(0, 2))).toBeInstanceOf(Error)
  })
})

describe('WebRtcTransport without WebRTC', () => {
  it('the browser entry in Node (no RTCPeerConnection, none passed) refuses to connect with a named error', async () => {
    const t = new BrowserWebRtcTransport({ iceServers: [] })
    t.attachSignaling({ signal: () => {}, onSignal: () => () => {} })
    await expect(t.connect('a' as never)).rejects.toBeInstanceOf(NoWebRtcError)
  })
})

describe('WebRtcTransport signaling', () => {
  it('keeps offers that arrive before connect (a peer dials as soon as it sees us in the view)', async () => {
    const clock = new RealClock()
    const service = newService(clock)
    // A connect timeout far beyond the test's: a lost offer would show as a hang, not a retry.
    const make = (id: string) => meshMember(service, clock, id, new WebRtcTransport({ iceServers: [], connectTimeoutMs: 60_000 }))
    const a = make('a')
    const b = make('b')
    await a.client.connect()
    await a.t.connect('a' as never)
    await b.client.connect() // a sees b in the view and dials now...
    await new Promise((r) => setTimeout(r, 300)) // ...while b is still starting up
    await b.t.connect('b' as never)
    const started = Date.now()
    while (a.t.peers().length === 0 || b.t.peers().length === 0) {
      if (Date.now() - started > 10_000) throw new Error('no link: the early offer was lost')
      await new Promise((r) => setTimeout(r, 10))
    }
    await a.t.close()
    await b.t.close()
    a.client.close()
    b.client.close()
    service.close()
  })
})

describe('WebRtcTransport reconnection', () => {
  it('dials again after a channel drops, and frames flow once more', async () => {
    const events: string[] = []
    await withPair(
      async (a, b) => {
        // The channel dies under both (as when a NAT mapping or a network interface goes away).
        ;(a as unknown as { links: Map<string, { peer: { destroy(): void } }> }).links.get('b')!.peer.destroy()
        await poll(() => events.includes('down'))
        await poll(() => a.peers().length > 0 && b.peers().length > 0)
        const got: number[] = []
        b.on('frame', ({ bytes }) => got.push(bytes[0]!))
        a.send('b' as never, Uint8Array.of(42))
        await poll(() => got.length > 0, 500)
        expect(events).toEqual(['up', 'down', 'up'])
        expect(got).toEqual([42])
        // It dialed again; on a loaded machine an attempt may time out and be retried, so the exact
        // count varies, but it must not redial in a storm.
        expect(a.stats.dials).toBeGreaterThanOrEqual(2)
        expect(a.stats.dials).toBeLessThanOrEqual(6)
      },
      (_a, b) => {
        b.on('peer-down', () => events.push('down'))
        b.on('peer-up', () => events.push('up'))
      },
    )
  })
})

describe('WebRtcTransport farewell', () => {
  it('a connection the far side destroyed reads as the peer leaving, whether its BYE or the abort came first', () => {
    // The words a browser (and webrtc-polyfill) gives the abort of a connection closed by the far side.
    expect(channelErrorReason(new Error('User-Initiated Abort, reason=Close called'))).toBe('peer closed the link')
    expect(channelErrorReason(new Error('Datachannel error: Transport failed'))).toBe('channel error: Datachannel error: Transport failed')
  })

  it('a send into a link that has gone reads as a closed channel, in each of libdatachannel\'s words for it', () => {
    // The messages node-datachannel throws from send() once the channel or its connection is gone
    // (a peer resumed after SIGSTOP meets them on every link the others closed meanwhile).
    const prefix = 'libdatachannel error while sending data channel message: '
    for (const words of ['DataChannel is closed', 'DataChannel not open', 'Connection is not open', 'DataChannel has no transport', 'Sending failed, errno=2', 'Sending failed, errno=32']) {
      expect(sendErrorReason(new Error(prefix + words), 65536)).toBe('channel closed')
    }
    expect(sendErrorReason(new Error('Max message size exceeded.'), 0)).toBe('channel closed')
    // The polyfill's own check, once the channel's readyState has caught up.
    expect(sendErrorReason(new Error("Failed to execute 'send' on 'RTCDataChannel': RTCDataChannel.readyState is not 'open'"), 65536)).toBe('channel closed')
    // Anything else is still reported as what it is.
    expect(sendErrorReason(new Error(prefix + 'Message size exceeds limit'), 65536)).toBe(`send failed: ${prefix}Message size exceeds limit`)
    expect(sendErrorReason(new Error(prefix + 'Sending failed, errno=12'), 65536)).toBe(`send failed: ${prefix}Sending failed, errno=12`)
  })

  it('a node that closes says so on its links: the far side hears it first-hand', async () => {
    const reasons: string[] = []
    await withPair(
      async (_a, b) => {
        await b.close()
        await poll(() => reasons.length > 0, 500)
        // At once, and as the peer leaving: its BYE, or (when the BYE was still in the SCTP queue
        // as the far side destroyed its connection, as happens under load) the clean close of its
        // channel or connection; never a failure found by ICE timing out.
        expect(reasons).toEqual(['peer closed the link'])
      },
      (a) => a.on('peer-down', ({ reason }) => reasons.push(reason)),
    )
  })
})

describe('WebRtcTransport receiving', () => {
  it('a text message on the channel drops the link with a reason, where frames are binary only', async () => {
    const reasons: string[] = []
    await withPair(
      async (a, b) => {
        const got: number[] = []
        b.on('frame', ({ bytes }) => got.push(bytes[0]!))
        a.send('b' as never, Uint8Array.of(7))
        await poll(() => got.length > 0, 500)
        ;(a as unknown as { links: Map<string, { peer: { channel: RTCDataChannel } }> }).links.get('b')!.peer.channel.send('hello')
        await poll(() => reasons.length > 0, 500)
        expect(got).toEqual([7])
        expect(reasons[0]).toBe('a string message on the binary channel')
      },
      (_a, b) => b.on('peer-down', ({ reason }) => reasons.push(reason)),
    )
  })
})

describe('WebRtcTransport backpressure', () => {
  it('queues above the high-water mark and drains: 32 MiB sent at once all arrive, in order', async () => {
    await withPair(async (a, b) => {
      const got: number[] = []
      let bytes = 0
      b.on('frame', ({ bytes: f }) => {
        got.push(f[0]!)
        bytes += f.byteLength
      })
      for (let i = 0; i < 32; i++) a.send('b' as never, new Uint8Array(1 << 20).fill(i))
      expect(a.stats.queued).toBeGreaterThan(0) // the channel buffer filled up: sending had to wait
      await poll(() => got.length >= 32, 3000)
      expect(got).toEqual([...Array(32).keys()])
      expect(bytes).toBe(32 << 20)
    })
  }, 60_000)
})
