/** The domainmesh command and `npm start`, as an operator uses them. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { MeshClient, nodeTopologyConnector, readToken, startTopologyServer } from '../../src/node.js'
import { DomainPersistence } from '../../src/persistence/persistence.js'
import { FileStorage } from '../../src/storage/files.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { TopologyClient } from '../../src/topology/client.js'
import { WebRtcTransport } from '../../src/transport/webrtc-node.js'
import { RealClock } from '../../src/util/clock.js'
import { spawnPeer } from '../helpers/processes.js'
import { frame, rawWebSocket } from '../helpers/raw-websocket.js'
import { waitFor } from '../helpers/wait.js'

const ROOT = join(import.meta.dirname, '../..')
const CLI = join(ROOT, 'src/cli/main.ts')
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (d) => (stdout += String(d)))
  p.stderr.on('data', (d) => (stderr += String(d)))
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code, stdout, stderr })))
}

describe('domainmesh CLI', { timeout: 120_000 }, () => {
  it('prints help, and refuses bad flags with a message that names them', async () => {
    expect((await runCli(['--help'])).stdout).toMatch(/domainmesh topology \[flags\]/)
    const bare = await runCli([])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toMatch(/domainmesh topology \[flags\]/)
    const version = await runCli(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version)
    expect((await runCli(['node', '--help'])).stdout).toMatch(/--data DIR/)
    const bad = await runCli(['node', '--topolgy', 'ws://x'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/Unknown option '--topolgy'/)
    const noSecret = await runCli(['topology'], { DOMAINMESH_SECRET: '' })
    expect(noSecret.stderr).toMatch(/cluster secret is required/)
    const badPort = await runCli(['topology', '--port', 'x', '--secret', '12345678'])
    expect(badPort.stderr).toMatch(/--port must be a whole number from 0 to 65535, not "x"/)
    const badGrowth = await runCli(['node', '--topology', 'ws://127.0.0.1:9', '--data', '/nonexistent', '--secret', '12345678', '--heap-growth', 'lots'])
    expect(badGrowth.stderr).toMatch(/--heap-growth must be a whole number from 0 to 1000, not "lots"/)
    const badTrim = await runCli(['node', '--topology', 'ws://127.0.0.1:9', '--data', '/nonexistent', '--secret', '12345678', '--memory-trim', 'yes'])
    expect(badTrim.stderr).toMatch(/--memory-trim must be on or off, not "yes"/)
    expect((await runCli(['launch'])).stderr).toMatch(/unknown command "launch"/)
    // --etcd: every wrong form is named before anything connects.
    const etcd = async (...args: string[]) => (await runCli(['topology', '--secret', '12345678', ...args])).stderr
    expect(await etcd('--etcd', '')).toMatch(/--etcd takes one or more http\(s\):\/\/host:port URLs/)
    expect(await etcd('--etcd', 'http://127.0.0.1:99999')).toMatch(/--etcd takes http\(s\):\/\/host:port URLs, not "http:\/\/127.0.0.1:99999"/)
    expect(await etcd('--etcd', '127.0.0.1:2379')).toMatch(/not "127.0.0.1:2379"/)
    expect(await etcd('--etcd', 'http://127.0.0.1:2379', '--etcd-prefix', '')).toMatch(/--etcd-prefix takes letters/)
    expect(await etcd('--etcd-prefix', 'x')).toMatch(/--etcd-prefix needs --etcd/)
  })

  it('domainmesh topology survives a malformed frame and a 2 MB message from a stranger, and still admits a node', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'topology', '--port', '0', '--cluster', 'it', '--secret', 'cli-secret', '--state', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => (out += String(d)))
    p.stderr.on('data', (d) => (out += String(d)))
    const exited = new Promise<number | null>((r) => p.once('exit', r))
    const probe = (url: string) =>
      new TopologyClient({ clusterId: 'it', nodeId: nodeId('probe'), secret: 'cli-secret', clock: new RealClock(), engines: () => [], connect: nodeTopologyConnector(url) })
    let client: TopologyClient | undefined
    try {
      const listening = /listening on (ws:\/\/\S+)/
      await waitFor(() => listening.test(out), `the topology service to listen:\n${out}`, 30_000, 50)
      const url = listening.exec(out)![1]!
      const raw = await rawWebSocket(url)
      raw.write(frame({ opcode: 0x3, payload: 'x' })) // no such opcode
      await raw.closed
      const big = new WebSocket(url)
      await new Promise((resolve, reject) => {
        big.once('open', resolve)
        big.once('error', reject) // e.g. nothing listens any more
      })
      big.on('error', () => {}) // the service drops it; the close code says why
      big.send('x'.repeat(2 * 1024 * 1024))
      expect(await new Promise((r) => big.once('close', r))).toBe(1009)
      client = probe(url)
      const welcome = await client.connect()
      expect(welcome.view.members.map((m) => m.nodeId)).toEqual(['probe'])
      await waitFor(() => /view \d+: probe\n/.test(out), `the service to print the view with probe:\n${out}`)
      expect(out).toMatch(/dropped a connection from 127\.0\.0\.1:\d+: Invalid WebSocket frame: invalid opcode 3\n/)
      expect(out).toMatch(/dropped a connection from 127\.0\.0\.1:\d+: Max payload size exceeded\n/)
      client.close()
      p.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      client?.close()
      if (p.exitCode === null) p.kill('SIGKILL')
    }
  })

  it('a node stopped with SIGTERM writes its state to disk and comes back with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'))
    dirs.push(dir)
    const server = await startTopologyServer({ clusterId: 'it', secret: 'cli-secret', settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 250, healDelayMs: 30_000 })
    const tester = new MeshNode({
      clusterId: clusterId('it'),
      nodeId: nodeId('tester'),
      transport: new WebRtcTransport({ iceServers: [] }),
      storage: new MemoryStorage(),
      clock: new RealClock(),
      topology: { connect: nodeTopologyConnector(server.url), secret: 'cli-secret' },
    })
    try {
      const peer = await spawnPeer('p1', join(dir, 'p1'), server.url, 'cli-secret')
      await tester.start()
      await waitFor(() => tester.health().safe && tester.transport.peers().length === 1, 'p1 and tester linked', 30_000, 50)
      for (let i = 0; i < 40; i++) await tester.store('shop').put(`k${i}`, { i })
      expect(await peer.kill('SIGTERM')).toBe(0)
      expect(peer.output.join('')).toMatch(/stopping: writing state to disk/)
      // With two members and two replicas, p1 held a copy of everything: it is all on its disk.
      const storage = await FileStorage.open(join(dir, 'p1'))
      let objects = 0
      for (const d of await DomainPersistence.storedDomains(storage)) objects += (await new DomainPersistence(storage, d, 1 << 20).load())?.objects.size ?? 0
      expect(objects).toBe(40)
      expect(new TextDecoder().decode(await storage.get(['meta', 'nodeId']))).toBe('p1')
      const again = await spawnPeer('p1', join(dir, 'p1'), server.url, 'cli-secret')
      await waitFor(async () => (await again.metrics()).objects === 40 && (await again.health()).safe, 'p1 back with its 40 objects', 30_000, 50)
      await again.kill('SIGTERM')
    } finally {
      await tester.close()
      await server.close()
    }
  })
})

describe('npm start', { timeout: 120_000 }, () => {
  it('runs the topology service, three peers, the auth endpoint and the demo; Ctrl-C stops them all; a restart keeps the data and the key pair', async () => {
    const data = await mkdtemp(join(tmpdir(), 'dm-start-'))
    dirs.push(data)
    const env = { DOMAINMESH_DATA: data, DOMAINMESH_TOPOLOGY_PORT: '7790', DOMAINMESH_DEMO_PORT: '5190', DOMAINMESH_METRICS_PORT: '9190' }
    const start = async () => {
      const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'demo/start.ts')], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      p.stdout.on('data', (d) => (out += String(d)))
      p.stderr.on('data', (d) => (out += String(d)))
      const exited = new Promise<number | null>((r) => p.once('exit', r))
      await waitFor(() => out.includes('domainmesh is running'), `npm start to be up:\n${out}`, 60_000, 100)
      return { p, exited, output: () => out }
    }
    const first = await start()
    expect(first.output()).toMatch(/demo\s+http:\/\/127\.0\.0\.1:5190\//)
    expect(await (await fetch('http://127.0.0.1:5190/')).text()).toContain('<title>domainmesh demo</title>')
    await waitFor(async () => ((await (await fetch('http://127.0.0.1:9190/health')).json()) as { safe: boolean }).safe, 'node-1 healthy', 30_000, 100)
    const secret = await readFile(join(data, 'secret'), 'utf8')
    // The auth endpoint hands a demo user a short-lived token the cluster takes: a client with it
    // writes, with no secret. The demo's code as vite serves it holds no secret either.
    const tokenFor = async (url: string, user: string) => ((await (await fetch(`${url}?user=${user}`)).json()) as { token: string }).token
    const authUrl = /auth endpoint\s+(http:\/\/127\.0\.0\.1:\d+\/token)/.exec(first.output())![1]!
    const token = await tokenFor(authUrl, 'alice')
    const claims = readToken(token)
    expect(claims.subject).toBe('alice')
    expect(claims.expiresAt! - Date.now()).toBeLessThanOrEqual(300_000)
    const client = await new MeshClient({ clusterId: 'demo', topology: { urls: ['ws://127.0.0.1:7790'] }, token }).start()
    try {
      expect((await client.store('demo').put('from:alice', { ok: true })).replicas).toBe(2)
    } finally {
      await client.close()
    }
    expect(await (await fetch('http://127.0.0.1:5190/browser-node.ts')).text()).not.toContain(secret.trim())
    expect(first.output()).toContain(`?mode=member&secret=${secret.trim()}`)
    first.p.kill('SIGINT') // what Ctrl-C sends
    expect(await first.exited).toBe(0)
    expect(first.output()).toMatch(/stopped\. Data stays in/)
    await expect(fetch('http://127.0.0.1:9190/health')).rejects.toThrow()
    // Again, on the same data: same secret, same node ids.
    const second = await start()
    expect(await readFile(join(data, 'secret'), 'utf8')).toBe(secret)
    expect(second.output()).toMatch(/node node-1 joined cluster "demo"/)
    // Every peer healthy again first: a read sent while a restarted primary still fetches what
    // the other owners hold is answered NotReadyError (never "absent") once the SDK's retries
    // (10 s) are over, and on a loaded machine that sync took longer.
    const settled = async (port: number) => {
      const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { safe: boolean; syncing: number[] }
      return h.safe && h.syncing.length === 0
    }
    for (const port of [9190, 9191, 9192]) await waitFor(() => settled(port), `the peer on ${port} healthy and synced again`, 30_000, 100)
    // The same key pair: a token of the first start is still taken.
    const again = await new MeshClient({ clusterId: 'demo', topology: { urls: ['ws://127.0.0.1:7790'] }, token }).start()
    try {
      expect(await again.store('demo').get('from:alice')).toEqual({ ok: true })
    } finally {
      await again.close()
    }
    second.p.kill('SIGINT')
    expect(await second.exited).toBe(0)
  })
})
