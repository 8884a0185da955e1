/**
 * The contract every Transport keeps. Run it against a new implementation with
 * `runTransportTests('name', makeHarness)`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { NotConnectedError } from '../errors.js'
import { nodeId, type NodeId } from '../ids.js'
import type { Transport } from '../transport/transport.js'
import { sleep, waitFor } from './wait.js'

export interface TransportHarness {
  /** Makes one unconnected transport for a node of the harness's cluster; the suite connects it. */
  create(): Promise<Transport>
  teardown(): Promise<void>
}

const ids = (...names: string[]): NodeId[] => names.map(nodeId)
const bytesOf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

async function meshed(ts: Transport[]): Promise<void> {
  await waitFor(() => ts.every((t) => t.peers().length === ts.length - 1), 'a full mesh').catch((err: Error) => {
    // Which links are missing, and what each transport counted, is what a rare failure here
    // (2 full test runs in about 12, never in a file run alone) has to go on.
    const state = ts.map((t) => `${t.self}: peers [${t.peers().join(', ')}]${'stats' in t ? ` stats ${JSON.stringify((t as { stats: unknown }).stats)}` : ''}`)
    throw new Error(`${err.message}; ${state.join('; ')}`)
  })
}

export function runTransportTests(name: string, makeHarness: () => Promise<TransportHarness>, timeoutMs = 30_000): void {
  describe(`Transport conformance: ${name}`, { timeout: timeoutMs }, () => {
    let h: TransportHarness | undefined
    /** peer-up events per transport, recorded from before it connected. */
    let ups: NodeId[][] = []
    const setup = async (...names: string[]): Promise<Transport[]> => {
      h = await makeHarness()
      const ts: Transport[] = []
      ups = []
      for (const id of ids(...names)) {
        const t = await h.create()
        const seen: NodeId[] = []
        t.on('peer-up', ({ peer }) => seen.push(peer))
        ups.push(seen)
        await t.connect(id)
        ts.push(t)
      }
      return ts
    }
    afterEach(async () => {
      await h?.teardown()
      h = undefined
    })

    it('connects every pair and announces each peer once', async () => {
      const ts = await setup('a', 'b', 'c')
      await meshed(ts)
      await waitFor(() => ups.every((u) => u.length === 2), 'peer-up events')
      expect(ts[0]!.peers().sort()).toEqual(ids('b', 'c'))
      expect(ts[0]!.self).toBe('a')
      for (const u of ups) expect(new Set(u).size).toBe(2)
    })

    it('delivers frames in order, tagged with the sender', async () => {
      const [a, b, c] = await setup('a', 'b', 'c')
      await meshed([a!, b!, c!])
      const got: string[] = []
      b!.on('frame', ({ from, bytes }) => got.push(`${from}:${bytes[0]! * 256 + bytes[1]!}`))
      for (let i = 0; i < 300; i++) {
        a!.send(nodeId('b'), Uint8Array.of(i >> 8, i & 0xff))
        c!.send(nodeId('b'), Uint8Array.of(i >> 8, i & 0xff))
      }
      await waitFor(() => got.length === 600, '600 frames')
      const fromA = got.filter((g) => g.startsWith('a:')).map((g) => Number(g.slice(2)))
      const fromC = got.filter((g) => g.startsWith('c:')).map((g) => Number(g.slice(2)))
      expect(fromA).toEqual([...Array(300).keys()])
      expect(fromC).toEqual([...Array(300).keys()])
    })

    it('delivers frames of any size intact (1 B to 1 MiB)', async () => {
      const [a, b] = await setup('a', 'b')
      await meshed([a!, b!])
      const sizes = [1, 1000, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100_000, 1024 * 1024]
      const got: Uint8Array[] = []
      b!.on('frame', ({ bytes }) => got.push(bytes))
      sizes.forEach((n, i) => a!.send(nodeId('b'), bytesOf(n, i)))
      await waitFor(() => got.length === sizes.length, 'all frames')
      got.forEach((g, i) => expect(Buffer.from(g).equals(Buffer.from(bytesOf(sizes[i]!, i)))).toBe(true))
    })

    it('refuses to send to a node it has no link to', async () => {
      const [a] = await setup('a')
      expect(() => a!.send(nodeId('nobody'), Uint8Array.of(1))).toThrow(NotConnectedError)
    })

    it('tells the others when a node closes, and stops delivering to it', async () => {
      const [a, b, c] = await setup('a', 'b', 'c')
      await meshed([a!, b!, c!])
      const downs: string[] = []
      a!.on('peer-down', ({ peer }) => downs.push(peer))
      let afterClose = 0
      b!.on('frame', () => afterClose++)
      await b!.close()
      await waitFor(() => downs.includes('b'), 'peer-down for b')
      expect(a!.peers()).toEqual(ids('c'))
      expect([a!.linked(nodeId('b')), a!.linked(nodeId('c'))]).toEqual([false, true])
      expect(() => a!.send(nodeId('b'), Uint8Array.of(1))).toThrow(NotConnectedError)
      await sleep(20)
      expect(afterClose).toBe(0)
    })

    it('disconnect cuts one link on both sides and leaves the others', async () => {
      const [a, b, c] = await setup('a', 'b', 'c')
      await meshed([a!, b!, c!])
      const bSaw: string[] = []
      b!.on('peer-down', ({ peer }) => bSaw.push(peer))
      a!.disconnect(nodeId('b'), 'misbehaving')
      await waitFor(() => bSaw.includes('a'), 'b to see a go')
      expect(a!.peers()).toEqual(ids('c'))
      expect(c!.peers().sort()).toEqual(ids('a', 'b'))
      const got: Uint8Array[] = []
      c!.on('frame', ({ bytes }) => got.push(bytes))
      a!.send(nodeId('c'), Uint8Array.of(7))
      await waitFor(() => got.length === 1, 'a frame on the remaining link')
    })
  })
}
