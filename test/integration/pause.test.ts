/**
 * A peer process paused (SIGSTOP) under write load and resumed (SIGCONT), over real WebRTC: the
 * others drop it from the view and close their links to it meanwhile. Issue 30, case 7.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OutcomeUnknownError } from '../../src/errors.js'

import type { MeshNode } from '../../src/node/mesh-node.js'
import { PeerCluster } from '../helpers/peer-cluster.js'
import type { PeerProcess } from '../helpers/processes.js'
import { sleep, waitFor } from '../helpers/wait.js'

const SECRET = 'pause-secret'
const KEYS = 100

let c: PeerCluster
let client: MeshNode
let peers: Map<string, PeerProcess>

describe('a peer paused under load and resumed', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    // Links closed on purpose are a detail the console prints only under domainmesh:link.
    process.env.DEBUG = 'domainmesh:link'
    c = await PeerCluster.start({ name: 'pause', peers: ['p1', 'p2', 'p3'], replicas: 3, secret: SECRET })
    ;({ client, peers } = c)
  }, 90_000)

  afterAll(() => c?.close())

  it('writes in flight fail only as OutcomeUnknownError, and the resumed peer reports its closed links as closed', async () => {
    const store = client.store('shop')
    // Setup: a domain may still move while the peers settle, and a put its old primary held then
    // ends OutcomeUnknownError; sending the same value again is safe (README, Errors).
    for (let i = 0; i < KEYS; i++) {
      for (let attempt = 0; ; attempt++) {
        const done = await store.put(`k${i}`, { n: 0 }).then(
          () => true,
          (e: unknown) => {
            if (!(e instanceof OutcomeUnknownError) || attempt >= 3) throw e
            return false
          },
        )
        if (done) break
      }
    }
    const failures: unknown[] = []
    let stop = false
    let sent = 0
    const inFlight = new Set<Promise<unknown>>()
    const writing = (async () => {
      while (!stop) {
        while (inFlight.size >= 200) await Promise.race(inFlight)
        const i = sent++
        const p = store.patch(`k${i % KEYS}`, [{ op: 'replace', path: ['n'], value: i }]).then(
          () => undefined,
          (e: unknown) => void failures.push(e),
        )
        inFlight.add(p)
        void p.finally(() => inFlight.delete(p))
      }
      await Promise.all(inFlight)
    })()
    await sleep(1000)
    const paused = peers.get('p2')!
    paused.proc.kill('SIGSTOP')
    // Long enough for the service to mark it down (3 missed heartbeats) and the others to close their links.
    await waitFor(() => client.topology.view().members.some((m) => m.nodeId === 'p2' && m.status === 'down'), 'p2 to be marked down', 20_000, 20)
    await sleep(1500)
    const resumedAt = paused.output.length
    paused.proc.kill('SIGCONT')
    await waitFor(() => client.topology.view().members.every((m) => m.status === 'up'), 'p2 to be back in the view', 20_000, 20)
    await sleep(2000)
    stop = true
    await writing
    expect(sent).toBeGreaterThan(1000)
    // The links the others closed while p2 slept: p2 says so (its channel or, with the standard
    // RTCPeerConnection, the connection closed first), not "Max message size exceeded." (a send
    // into a channel node-datachannel had already freed).
    const after = paused.output.slice(resumedAt).join('')
    const drops = after.split('\n').filter((l) => / link to \S+ dropped \(|^link to \S+ dropped \(/.test(l))
    expect(drops.length).toBeGreaterThan(0)
    expect(after).not.toMatch(/Max message size/)
    for (const d of drops) expect(d).toMatch(/\((channel closed|connection closed|peer closed the link|channel error: .*)\)$/)
    // Every write that failed may have been applied: none says "not connected" or "timed out".
    for (const f of failures) expect(f).toBeInstanceOf(OutcomeUnknownError)
  })
})
