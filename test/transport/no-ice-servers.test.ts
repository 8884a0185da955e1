/**
 * Nothing in the project's code, tests, demo, examples or benchmarks names a STUN or TURN server:
 * every WebRTC connection uses `iceServers: []` (the transports' default) and reaches only the
 * hosts' own addresses, loopback in the tests. A URL added anywhere fails here with its place.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { WebRtcTransport } from '../../src/transport/webrtc.js'
import { FakeClock } from '../../src/util/clock.js'

const ROOT = join(import.meta.dirname, '../..')
const DIRS = ['src', 'test', 'demo', 'examples', 'bench']
const ICE_URL = /\b(stuns?|turns?):(?!\s)[^\s'"`]+/i

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'results' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path)
    else if (/\.(ts|mts|js|mjs|html)$/.test(name)) yield path
  }
}

describe('ICE servers', () => {
  it('no STUN or TURN URL in src, test, demo, examples or bench', () => {
    const found: string[] = []
    for (const d of DIRS) {
      for (const f of files(join(ROOT, d))) {
        const lines = readFileSync(f, 'utf8').split('\n')
        lines.forEach((l, i) => {
          const m = ICE_URL.exec(l)
          if (m) found.push(`${relative(ROOT, f)}:${i + 1}: ${m[0]}`)
        })
      }
    }
    expect(found).toEqual([])
  })

  it('the transport\'s default, for members and clients alike, is no ICE server at all', () => {
    for (const role of ['member', 'client'] as const) {
      let config: RTCConfiguration | undefined
      const Fake = class {
        constructor(c: RTCConfiguration) {
          config = c
        }
      }
      // A fake clock: the attempt's connect timeout is never left running.
      const t = new WebRtcTransport({ role, RTCPeerConnection: Fake as never, clock: new FakeClock() })
      // The configuration a link would be opened with.
      ;(t as unknown as { open(peer: string, cid: string, initiator: boolean): unknown }).open('p', 'c', false)
      expect(config?.iceServers, role).toEqual([])
    }
  })
})
