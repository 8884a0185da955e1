/**
 * Three Node peers in separate processes (the CLI) plus the topology service, over real WebRTC,
 * inside the private network namespace. The test process joins as a fourth member to write and
 * read. kill -9 is a real crash: no goodbye, no flush beyond what was already on disk.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId, virtualServerId, type NodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { spawnPeer, type PeerProcess } from '../helpers/processes.js'
import { sleep, waitFor } from '../helpers/wait.js'

const SECRET = 'integration-secret'
const VS = virtualServerId('shop')
const HEAL_DELAY = 10_000

let dir: string
let server: TopologyServer
let client: MeshNode
const peers = new Map<string, PeerProcess>()

async function startPeer(name: string): Promise<PeerProcess> {
  const p = await spawnPeer(name, join(dir, name), server.url, SECRET)
  peers.set(name, p)
  return p
}

/** Everyone in the view is up, connected to everyone, and no domain is short of copies. */
async function settled(expectedMembers: number): Promise<void> {
  await waitFor(
    async () => {
      const view = client.topology.view()
      if (view.members.length !== expectedMembers || view.members.some((m) => m.status !== 'up')) return false
      if (!client.health().safe || client.transport.peers().length !== expectedMembers - 1) return false
      for (const p of peers.values()) {
        const h = await p.health()
        if (!h.safe || h.epoch !== view.epoch) return false
        if ((await p.metrics()).peers.length !== expectedMembers - 1) return false
      }
      return true
    },
    'the cluster to settle',
    60_000,
    100,
  ).catch(async (err: Error) => {
    // Say what it was waiting for: the view, each node's health and links.
    const lines = [`view ${JSON.stringify(client.topology.view().members.map((m) => m.nodeId + ':' + m.status))} epoch ${client.topology.view().epoch}`]
    lines.push(`tester ${JSON.stringify(client.health())} peers ${client.transport.peers()}`)
    for (const p of peers.values()) lines.push(`${p.name} ${JSON.stringify(await p.health())} peers ${(await p.metrics()).peers}`)
    throw new Error(`${err.message}\n${lines.join('\n')}`)
  })
}

async function totalObjects(): Promise<number> {
  let n = client.metrics().objects
  for (const p of peers.values()) n += (await p.metrics()).objects
  return n
}

async function snapshotCounters(): Promise<number> {
  let n = client.metrics().snapshotsSent + client.metrics().snapshotsInstalled
  for (const p of peers.values()) {
    const m = await p.metrics()
    n += m.snapshotsSent + m.snapshotsInstalled
  }
  return n
}

const primaryOf = (key: string): NodeId | undefined => client.state.placement(client.state.domainOf(VS, key)).primary

describe('Node peers in separate processes over WebRTC', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-it-'))
    server = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 32, replicas: 2 }, healDelayMs: HEAL_DELAY, heartbeatMs: 250 })
    await Promise.all(['p1', 'p2', 'p3'].map(startPeer))
    client = new MeshNode({
      clusterId: clusterId('it'),
      nodeId: nodeId('tester'),
      transport: new WebRtcTransport({ iceServers: [] }),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { connect: nodeTopologyConnector(server.url), secret: SECRET },
    })
    await client.start()
    await settled(4)
  }, 120_000)

  afterAll(async () => {
    await client?.close()
    for (const p of peers.values()) await p.kill('SIGTERM')
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('peers run with the malloc arena limit in their environment (glibc reads it only at start)', async () => {
    for (const p of peers.values()) {
      const environ = (await readFile(`/proc/${p.proc.pid}/environ`, 'utf8')).split('\0')
      // 2 unless whoever ran the tests set their own.
      expect(environ).toContain(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX || '2'}`)
    }
  })

  it('replicates writes to exactly `replicas` copies', async () => {
    const s = client.store('shop')
    for (let i = 0; i < 100; i++) await s.put(`k${i}`, { i })
    await waitFor(async () => (await totalObjects()) === 200, '200 copies of 100 objects', 30_000, 100)
    for (let i = 0; i < 100; i += 7) expect(await s.get(`k${i}`)).toEqual({ i })
  })

  it('kill -9 of a primary mid-stream: failover, no acked write lost, writes resume; it comes back', async () => {
    const s = client.store('shop')
    const all = Array.from({ length: 100 }, (_, i) => `k${i}`)
    const victim = ['p1', 'p2', 'p3'].find((p) => all.some((k) => primaryOf(k) === p))!
    const keys = all.filter((k) => primaryOf(k) === victim).slice(0, 5)
    const acked = new Map<string, number>()
    const trace: string[] = []
    let n = 0
    let stop = false
    const stream = (async () => {
      while (!stop) {
        const key = keys[n % keys.length]!
        const v = ++n
        await s.put(key, { v }).then(
          (ack) => {
            acked.set(key, Math.max(acked.get(key) ?? 0, v))
            trace.push(`${key} v${v} seq${ack.seq} r${ack.replicas} p=${primaryOf(key)} e=${client.topology.view().epoch}`)
          },
          () => sleep(20), // unacknowledged during failover: not counted
        )
      }
    })()
    await waitFor(() => n > 50, 'writes under way')
    await peers.get(victim)!.kill('SIGKILL')
    peers.delete(victim)
    await waitFor(() => client.topology.view().members.find((m) => m.nodeId === victim)?.status === 'down', `${victim} marked down`, 10_000)
    const nAtFailover = n
    await waitFor(() => n > nAtFailover + 30, 'writes to resume on the new primaries', 20_000)
    stop = true
    await stream
    for (const [key, v] of acked) expect(await s.get(key)).toEqual({ v })
    // Back within the heal delay, on the same data folder. A domain it was writing to when it died
    // may hold entries it persisted but never replicated; that copy is replaced (nothing acked was
    // in it). Every other domain catches up by deltas.
    await startPeer(victim)
    await settled(4)
    for (const [key, v] of acked) {
      const got = (await s.get(key)) as { v: number }
      if (got.v !== v) console.log('MISMATCH', key, 'domain', client.state.domainOf(VS, key), 'got', got.v, 'acked', v, 'primary now', primaryOf(key), '\n' + trace.filter((t) => t.startsWith(key + ' ')).slice(-12).join('\n'), '\nVICTIM LOG\n' + peers.get(victim)!.output.join(''))
    }
    const streamDomains = new Set(keys.map((k) => client.state.domainOf(VS, k))).size
    const back = (await peers.get(victim)!.metrics()) as unknown as { snapshotsInstalled: number; damagedDomains: number }
    const snapshotLog = peers.get(victim)!.output.join('').split('\n').filter((l) => /snapshot|damaged|adopt/.test(l)).join('\n')
    expect(back.snapshotsInstalled, `stream domains ${[...new Set(keys.map((k) => client.state.domainOf(VS, k)))].join(',')}\n${snapshotLog}`).toBeLessThanOrEqual(streamDomains)
    // kill -9 in the middle of writes left no damaged file behind.
    expect(back.damagedDomains).toBe(0)
    for (const [key, v] of acked) expect(await s.get(key)).toEqual({ v })
  })

  it('a peer killed and back within the heal delay catches up by deltas only: no snapshot anywhere', async () => {
    const s = client.store('shop')
    const victim = 'p3'
    const before = await snapshotCounters()
    const victimBefore = await peers.get(victim)!.metrics()
    const beforeVictim = victimBefore.snapshotsSent + victimBefore.snapshotsInstalled
    await peers.get(victim)!.kill('SIGKILL')
    peers.delete(victim)
    await waitFor(() => client.topology.view().members.find((m) => m.nodeId === victim)?.status === 'down', `${victim} marked down`, 10_000)
    // Writes go on while it is away: to its domains too (now on their backups).
    for (let i = 0; i < 100; i++) await s.put(`k${i}`, { i, round: 2 })
    await startPeer(victim)
    await settled(4)
    // Same count on the survivors; the returned process starts its counters at zero.
    expect((await snapshotCounters()) - (await peers.get(victim)!.metrics()).snapshotsInstalled - (await peers.get(victim)!.metrics()).snapshotsSent).toBe(before - beforeVictim)
    const log = peers.get(victim)!.output.join('').split('\n').filter((l) => /snapshot|damaged/.test(l)).join('\n')
    expect((await peers.get(victim)!.metrics()).snapshotsInstalled, log).toBe(0)
    await waitFor(async () => (await totalObjects()) === 200, 'every copy up to date', 20_000, 100)
    for (let i = 0; i < 100; i += 9) expect(await s.get(`k${i}`)).toEqual({ i, round: 2 })
  })

  it('a peer that stays dead past the delay: its domains are copied back to full replication', async () => {
    const victim = 'p2'
    const objects = await totalObjects()
    await peers.get(victim)!.kill('SIGKILL')
    peers.delete(victim)
    await sleep(HEAL_DELAY)
    await settled(3)
    expect(client.topology.view().members.map((m) => m.nodeId).sort()).toEqual(['p1', 'p3', 'tester'])
    expect(await totalObjects()).toBe(objects) // 2 copies of every object again, on the survivors
    const s = client.store('shop')
    for (let i = 0; i < 100; i += 3) expect(await s.get(`k${i}`)).toBeDefined()
  })

  it.runIf(process.platform === 'linux')('a quiet peer gives freed C memory back, and its metrics count it', async () => {
    // The CLI trims (malloc_trim through koffi) once a peer has seen no write for 5 s.
    await waitFor(
      async () => {
        for (const p of peers.values()) {
          const proc = (await p.metrics()).process as { memoryTrims?: number; memoryTrimmedSinceLastWrite?: boolean }
          if (!(typeof proc.memoryTrims === 'number' && proc.memoryTrims >= 1 && typeof proc.memoryTrimmedSinceLastWrite === 'boolean')) return false
        }
        return true
      },
      'every peer to have trimmed once quiet',
      30_000,
      200,
    )
  })
})
