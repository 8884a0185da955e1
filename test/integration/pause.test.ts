/**
 * A peer process paused (SIGSTOP) under write load and resumed (SIGCONT), over real WebRTC: the
 * others drop it from the view and close their links to it meanwhile. Issue 30, case 7.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OutcomeUnknownError } from '../../src/errors.js'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { WebRtcTransport } from '../../src/transport/webrtc.js'
import { RealClock } from '../../src/util/clock.js'
import { spawnPeer, type PeerProcess } from '../helpers/processes.js'
import { sleep, waitFor } from '../helpers/wait.js'

const SECRET = 'pause-secret'
const KEYS = 100

let dir: string
let server: TopologyServer
let client: MeshNode
const peers = new Map<string, PeerProcess>()

describe('a peer paused under load and resumed', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-pause-'))
    server = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 16, replicas: 3 }, healDelayMs: 10_000, heartbeatMs: 250 })
    for (const name of ['p1', 'p2', 'p3']) peers.set(name, await spawnPeer(name, join(dir, name), server.url, SECRET))
    client = new MeshNode({
      clusterId: clusterId('it'),
      nodeId: nodeId('tester'),
      transport: new WebRtcTransport({ iceServers: [] }),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { connect: nodeTopologyConnector(server.url), secret: SECRET },
    })
    await client.start()
    await waitFor(() => client.transport.peers().length === 3 && client.health().safe, 'the cluster to settle', 60_000, 50)
  }, 90_000)

  afterAll(async () => {
    await client?.close()
    for (const p of peers.values()) await p.kill('SIGTERM')
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('writes in flight fail only as OutcomeUnknownError, and the resumed peer reports its closed links as closed', async () => {
    const store = client.store('shop')
    for (let i = 0; i < KEYS; i++) await store.put(`k${i}`, { n: 0 })
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
    // The links the others closed while p2 slept: p2 says so, not "Max message size exceeded."
    // (a send into a channel node-datachannel had already freed).
    const after = paused.output.slice(resumedAt).join('')
    const drops = after.split('\n').filter((l) => l.startsWith('link to '))
    expect(drops.length).toBeGreaterThan(0)
    expect(after).not.toMatch(/Max message size/)
    for (const d of drops) expect(d).toMatch(/\((channel closed|peer closed the link|channel error: .*)\)$/)
    // Every write that failed may have been applied: none says "not connected" or "timed out".
    for (const f of failures) expect(f).toBeInstanceOf(OutcomeUnknownError)
  })
})
