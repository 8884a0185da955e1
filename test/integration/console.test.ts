/**
 * What the CLI prints, read off real processes: one line per event that matters, details only
 * with --verbose, and one-line errors (no stack) for a port someone else holds.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { nodeTopologyConnector, startTopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { peerEnvironment } from '../../src/cli/peer-env.js'
import { waitFor } from '../helpers/wait.js'

const ROOT = join(import.meta.dirname, '../..')
const CLI = join(ROOT, 'src/cli/main.ts')
const SECRET = 'console-secret'
const dirs: string[] = []
const procs: ChildProcess[] = []
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

interface Proc {
  p: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

function start(args: string[], env: Record<string, string> = {}, script = CLI): Proc {
  const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...peerEnvironment(), DOMAINMESH_SECRET: SECRET, DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  procs.push(p)
  let stdout = ''
  let stderr = ''
  p.stdout!.on('data', (d) => (stdout += String(d)))
  p.stderr!.on('data', (d) => (stderr += String(d)))
  const exited = new Promise<number | null>((r) => p.once('exit', r))
  return { p, stdout: () => stdout, stderr: () => stderr, exited }
}

/** A port held by this test process (what a second `npm start` finds). */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as { port: number }).port, server }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim())

describe('console output', { timeout: 120_000 }, () => {
  it('a port in use is one line that names what to change, with no stack', async () => {
    const held = await holdPort()
    try {
      const topo = start(['topology', '--port', String(held.port), '--state', 'none'])
      expect(await topo.exited).toBe(2)
      expect(lines(topo.stderr())).toEqual([`domainmesh: topology service: port ${held.port} on 127.0.0.1 is already in use; another topology service running? Choose another port with --port`])

      // A node whose metrics port is taken stops before it joins: the cluster never sees it.
      const server = await startTopologyServer({ clusterId: 'it', secret: SECRET, settings: { domainCount: 4, replicas: 2 } })
      try {
        const dir = await mkdtemp(join(tmpdir(), 'dm-console-'))
        dirs.push(dir)
        const node = start(['node', '--topology', server.url, '--data', join(dir, 'n1'), '--node-id', 'n1', '--cluster', 'it', '--metrics-port', String(held.port)])
        expect(await node.exited).toBe(2)
        expect(lines(node.stderr())).toEqual([`domainmesh: metrics: port ${held.port} on 127.0.0.1 is already in use; another domainmesh node running? Choose another port with --metrics-port`])
        expect(server.service.view().members).toEqual([])
      } finally {
        await server.close()
      }

      // A second `npm start` names the environment variable, and starts nothing.
      const data = await mkdtemp(join(tmpdir(), 'dm-console-start-'))
      dirs.push(data)
      const second = start([], { DOMAINMESH_DATA: data, DOMAINMESH_TOPOLOGY_PORT: String(held.port), DOMAINMESH_METRICS_PORT: '9180', DOMAINMESH_DEMO_PORT: '5180' }, join(ROOT, 'demo/start.ts'))
      expect(await second.exited).toBe(1)
      expect(second.stdout()).toBe('')
      expect(lines(second.stderr())).toEqual([`npm start: topology service: port ${held.port} on 127.0.0.1 is already in use; is another npm start running? Stop it, or set DOMAINMESH_TOPOLOGY_PORT to another port`])
    } finally {
      held.server.close()
    }
  })

  it('a node going down: one line each for down, failover, left and healing; details only with --verbose', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-console-'))
    dirs.push(dir)
    const topo = start(['topology', '--port', '0', '--cluster', 'it', '--state', 'none', '--domains', '16', '--replicas', '2', '--heal-delay', '1500', '--heartbeat', '250'])
    const listening = /listening on (ws:\/\/\S+)/
    await waitFor(() => listening.test(topo.stdout()), `the topology service to listen:\n${topo.stdout()}${topo.stderr()}`, 30_000, 50)
    const url = listening.exec(topo.stdout())![1]!
    const peer = (name: string, extra: string[] = []) => start(['node', '--topology', url, '--data', join(dir, name), '--node-id', name, '--cluster', 'it', '--metrics-port', '0', ...extra])
    const p1 = peer('p1')
    const p2 = peer('p2', ['--verbose'])
    const p3 = peer('p3')
    // Something to copy: a node on memory, writing through the mesh.
    const writer = new MeshNode({ clusterId: clusterId('it'), nodeId: nodeId('writer'), transport: new WebRtcTransport({ iceServers: [] }), storage: new MemoryStorage(), clock: new RealClock(), topology: { connect: nodeTopologyConnector(url), secret: SECRET } })
    try {
      for (const p of [p1, p2, p3]) await waitFor(() => /joined cluster/.test(p.stdout()), `peers to join:\n${p.stdout()}${p.stderr()}`, 30_000, 50)
      await writer.start()
      await waitFor(() => writer.health().safe && writer.transport.peers().length === 3, 'the writer to link to the three peers', 60_000, 50)
      await waitFor(() => /cluster healing finished/.test(topo.stdout()) || !/cluster healing:/.test(topo.stdout()), `joins to heal:\n${topo.stdout()}`, 60_000, 50)
      for (let i = 0; i < 200; i++) await writer.store('shop').put(`k${i}`, { i, text: 'x'.repeat(200) })
      const before = { p1: p1.stdout().length, p2: p2.stdout().length, topo: topo.stdout().length }
      p3.p.kill('SIGKILL')
      await waitFor(() => /p3 left the view/.test(topo.stdout()), `p3 to leave:\n${topo.stdout()}`, 30_000, 50)
      // The healing after it left (a domain p3 shared with the writer, an ephemeral member, was
      // copied to a durable stand-in already while p3 was down: a first "healing finished").
      const afterLeft = () => topo.stdout().slice(topo.stdout().indexOf('p3 left the view', before.topo))
      await waitFor(() => /cluster healing finished/.test(afterLeft()), `healing to finish:\n${topo.stdout()}`, 60_000, 50)
      await waitFor(() => writer.health().safe, 'the writer to be safe', 30_000, 50)

      const topoLines = lines(topo.stdout().slice(before.topo))
      expect(topoLines).toContainEqual(expect.stringMatching(/^p3 is down: its domains fail over now; unless it returns within 1\.5 s, healing copies them to the others$/))
      expect(topoLines).toContainEqual(expect.stringMatching(/^view \d+: .*\bp3\(down\)/))
      expect(topoLines).toContainEqual(expect.stringMatching(/^p3 left the view \(down for 1\.5 s\)$/))
      expect(topoLines).toContainEqual(expect.stringMatching(/^cluster healing: \d+ domain cop(y|ies) to make$/))
      expect(topoLines).toContainEqual(expect.stringMatching(/^cluster healing finished: every domain has its copies \(\d+ cop(y|ies) in [\d.]+ m?s\)$/))
      // Views that only move owners (one per copy) are not printed.
      expect(topoLines.filter((l) => /^view /.test(l)).length).toBeLessThanOrEqual(2)

      const peerLines = [...lines(p1.stdout().slice(before.p1)), ...lines(p2.stdout().slice(before.p2))]
      // p3 led some of the 16 domains; whoever took each over says so, in one line per view.
      expect(peerLines).toContainEqual(expect.stringMatching(/^failover: p3 is down; this node took over \d+ of its domains \([\d, ]+\) and leads \d+ now$/))
      // Each surviving peer that copied says when it finished: domains, bytes, time.
      expect(peerLines).toContainEqual(expect.stringMatching(/^healing finished: \d+ domain cop(y|ies) to [\w, ]+, [\d.]+ k?B in [\d.]+ m?s/))
      // Not one line per copy, per view or per clean link close.
      expect(peerLines.filter((l) => /domains copied|^view \d+:|copy of domain/.test(l))).toEqual([])
      expect(peerLines.length).toBeLessThanOrEqual(8)
      // p2 runs with --verbose: the details are there, on stderr, under their namespaces.
      expect(p2.stderr()).toMatch(/domainmesh:healing .*domain copies done/)
      expect(p2.stderr()).toMatch(/domainmesh:view .*view \d+: \d+ members/)
      expect(p1.stderr()).toBe('')
    } finally {
      await writer.close()
      for (const p of [p1, p2, topo]) p.p.kill('SIGTERM')
      for (const p of [p1, p2, topo]) await p.exited
    }
  })
})
