/**
 * The physical limit: two node-datachannel peers in this process, one reliable ordered data
 * channel, no domainmesh code. The sender keeps the channel's buffer full and waits on
 * `bufferedAmountLow`; the clock stops when the receiver has every message.
 */
import { join } from 'node:path'
import nodeDataChannel from 'node-datachannel'

export interface RawResult {
  msgsPerSec: number
  mbPerSec: number
}

async function pair(): Promise<{ send: nodeDataChannel.DataChannel; onMessage: (cb: (bytes: number) => void) => void; close: () => void }> {
  const config = { iceServers: [] as string[] }
  const a = new nodeDataChannel.PeerConnection('bench-a', config)
  const b = new nodeDataChannel.PeerConnection('bench-b', config)
  // Description and candidate callbacks come through separate native queues, so a candidate can
  // arrive first; adding it before the description aborts the process ("without ICE transport").
  const link = (from: nodeDataChannel.PeerConnection, to: nodeDataChannel.PeerConnection) => {
    let described = false
    const early: [string, string][] = []
    from.onLocalDescription((sdp, type) => {
      to.setRemoteDescription(sdp, type)
      described = true
      for (const [c, mid] of early.splice(0)) to.addRemoteCandidate(c, mid)
    })
    from.onLocalCandidate((c, mid) => (described ? to.addRemoteCandidate(c, mid) : early.push([c, mid])))
  }
  link(a, b)
  link(b, a)
  let listener: (bytes: number) => void = () => undefined
  // Held here: a channel object nothing refers to may be collected, and that closes it.
  let remote: nodeDataChannel.DataChannel | undefined
  const remoteOpen = new Promise<void>((resolve) =>
    b.onDataChannel((dc) => {
      remote = dc
      dc.onMessage((m) => listener(typeof m === 'string' ? m.length : m.byteLength))
      resolve()
    }),
  )
  const dc = a.createDataChannel('bench')
  await new Promise<void>((resolve) => dc.onOpen(() => resolve()))
  await remoteOpen
  return {
    send: dc,
    onMessage: (cb) => (listener = cb),
    close: () => {
      remote?.close()
      dc.close()
      a.close()
      b.close()
    },
  }
}

/** Sends `count` messages of `size` bytes as fast as the channel takes them. */
async function blast(count: number, size: number): Promise<number> {
  const p = await pair()
  const payload = new Uint8Array(size).fill(7)
  let received = 0
  const done = new Promise<void>((resolve) => p.onMessage(() => ++received === count && resolve()))
  const high = 4 * 1024 * 1024
  p.send.setBufferedAmountLowThreshold(high / 2)
  const start = performance.now()
  for (let sent = 0; sent < count; sent++) {
    if (p.send.bufferedAmount() > high) await new Promise<void>((resolve) => p.send.onBufferedAmountLow(() => resolve()))
    p.send.sendMessageBinary(payload)
  }
  await done
  const seconds = (performance.now() - start) / 1000
  p.close()
  return seconds
}

/** In a child process (see raw-child.ts), so nothing native it leaves behind can touch the rest. */
export async function rawLimitIsolated(attempts = 3): Promise<RawResult> {
  const { LineProcess } = await import('./line-process.js')
  for (let attempt = 1; ; attempt++) {
    const p = new LineProcess(['--import', 'tsx', join(import.meta.dirname, 'raw-child.ts')])
    try {
      return (await p.next('raw', 300_000)) as unknown as RawResult
    } catch (err) {
      if (attempt >= attempts) throw err
      console.error(`raw limit: attempt ${attempt} failed, again: ${(err as Error).message.split('\n')[0]}`)
    } finally {
      p.kill()
    }
  }
}

export async function rawLimit(): Promise<RawResult> {
  const small = 100_000
  const s1 = await blast(small, 1024)
  const big = 4_000
  const s2 = await blast(big, 64 * 1024)
  return { msgsPerSec: small / s1, mbPerSec: (big * 64 * 1024) / (1024 * 1024) / s2 }
}
