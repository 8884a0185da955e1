/**
 * `npm start`: the topology service, three Node peers with file storage under .data/, the demo's
 * auth endpoint (in this process) and the demo dev server. Prints what runs where; Ctrl-C stops
 * everything (each peer writes its state to disk first) and the next start picks the data up again.
 *
 * Tabs are clients by default: they get a token from the auth endpoint and never see the cluster
 * secret, which goes only to the service and the peers. A member tab (`?mode=member`) needs the
 * secret in its URL: the one this prints, for this machine's operator only.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { peerEnvironment } from '../src/cli/peer-env.js'
import { checkPortFree } from '../src/cli/ports.js'
import { demoClientKeys, startAuthServer, type AuthServer } from './auth-server.js'

const root = resolve(import.meta.dirname, '..')
const dataDir = resolve(root, process.env.DOMAINMESH_DATA ?? '.data')
const topologyPort = Number(process.env.DOMAINMESH_TOPOLOGY_PORT ?? 7700)
const demoPort = Number(process.env.DOMAINMESH_DEMO_PORT ?? 5173)
const metricsPort = Number(process.env.DOMAINMESH_METRICS_PORT ?? 9101)
const cluster = 'demo'
/** `npm start -- --verbose`: every view, copy and link change too (DEBUG=domainmesh:* does the same). */
const verbose = process.argv.includes('--verbose') ? ['--verbose'] : []
const cli = join(root, 'src/cli/main.ts')
const children = new Map<string, ChildProcess>()
let stopping = false
let auth: AuthServer | undefined

/** The cluster secret is made once and kept with the data, so a restart rejoins the same cluster. */
async function clusterSecret(): Promise<string> {
  const file = join(dataDir, 'secret')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    const secret = randomBytes(18).toString('base64url')
    await mkdir(dataDir, { recursive: true })
    await writeFile(file, secret + '\n', { mode: 0o600 })
    return secret
  }
}

/** Starts a child, prefixes its output, and resolves with the first output line matching `ready`. */
function run(name: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.set(name, child)
  return new Promise((resolvePromise, reject) => {
    let matched = false
    const onLine = (line: string) => {
      if (!line.trim()) return
      console.log(`[${name}] ${line}`)
      const m = matched ? null : ready.exec(line.replace(/\x1b\[[0-9;]*m/g, ''))
      if (m) {
        matched = true
        resolvePromise(m)
      }
    }
    for (const stream of [child.stdout!, child.stderr!]) {
      let buf = ''
      stream.on('data', (d: Buffer) => {
        buf += String(d)
        const lines = buf.split('\n')
        buf = lines.pop()!
        lines.forEach(onLine)
      })
    }
    child.once('exit', (code, signal) => {
      children.delete(name)
      if (!matched) reject(new Error(`${name} exited (${signal ?? code}) before it was ready`))
      else if (!stopping && /^node-\d+$/.test(name)) {
        // A peer that dies is what the demo is for: its domains fail over and heal on the others.
        console.error(`[${name}] exited unexpectedly (${signal ?? code}); the others go on (its domains fail over, then heal). Ctrl-C and npm start again to bring it back`)
        if (![...children.keys()].some((n) => /^node-\d+$/.test(n))) {
          console.error('no peer is left; stopping everything')
          void stopAll(1)
        }
      } else if (!stopping) {
        console.error(`[${name}] exited unexpectedly (${signal ?? code}); stopping everything`)
        void stopAll(1)
      }
    })
  })
}

async function stopAll(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  console.log('\nstopping: peers write their state to disk…')
  const exits = [...children.values()].map((c) => new Promise((r) => c.once('exit', r)))
  for (const c of children.values()) c.kill('SIGTERM')
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))])
  for (const c of children.values()) c.kill('SIGKILL')
  await auth?.close()
  console.log(`stopped. Data stays in ${relative(root, dataDir) || '.'}/ for the next start.`)
  process.exit(code)
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stopAll(0))
  process.on('SIGTERM', () => void stopAll(0))
  // Before anything starts: a second `npm start` would otherwise fail half-way with a stack trace.
  await checkPortFree('127.0.0.1', topologyPort, 'topology service', 'is another npm start running? Stop it, or set DOMAINMESH_TOPOLOGY_PORT to another port')
  for (let i = 0; i < 3; i++) await checkPortFree('127.0.0.1', metricsPort + i, `metrics of node-${i + 1}`, 'is another npm start running? Stop it, or set DOMAINMESH_METRICS_PORT (the first of three ports) to another port')
  const secret = await clusterSecret()
  // The app's key pair: the private half signs the users' tokens here; the public half lets the
  // service and the peers check them.
  const keys = await demoClientKeys(dataDir)
  const env = { DOMAINMESH_SECRET: secret, DOMAINMESH_CLIENT_KEY: keys.publicKeyPem }
  const tsx = ['--import', 'tsx', cli]
  const topo = await run('topology', [...tsx, 'topology', '--port', String(topologyPort), '--cluster', cluster, '--state', join(dataDir, 'topology.json'), ...verbose], env, /listening on (ws:\/\/\S+)/)
  const topologyUrl = topo[1]!
  const peers = ['node-1', 'node-2', 'node-3']
  await Promise.all(
    peers.map((name, i) =>
      run(name, [...tsx, 'node', '--topology', topologyUrl, '--data', join(dataDir, name), '--node-id', name, '--cluster', cluster, '--metrics-port', String(metricsPort + i), ...verbose], { ...env, ...peerEnvironment() }, /joined cluster/),
    ),
  )
  auth = await startAuthServer({ privateKey: keys.privateKey, clusterId: cluster })
  // vite does not export its bin through package.json "exports"; it sits next to its main entry.
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite')), '../../bin/vite.js')
  const demo = await run('demo', [vite, '--host', '127.0.0.1', '--port', String(demoPort)], { VITE_DM_TOPOLOGY: topologyUrl, VITE_DM_CLUSTER: cluster, VITE_DM_AUTH: auth.url }, /Local:\s+(http\S+)/)
  console.log(`
domainmesh is running:
  topology service  ${topologyUrl}  (cluster "${cluster}")
${peers.map((p, i) => `  ${p}            data ${relative(root, join(dataDir, p))}/  metrics http://127.0.0.1:${metricsPort + i}/metrics`).join('\n')}
  auth endpoint     ${auth.url}  (tokens for demo users; key pair in ${relative(root, keys.privateKeyFile)}, .pub.pem)
  demo              ${demo[1]}   ← open it; every tab is a client of its own user
  member tab        ${demo[1]}?mode=member&secret=${secret}
                    (a tab that is one more node: it holds the cluster secret; keep this URL to yourself)
Ctrl-C stops everything; data stays in ${relative(root, dataDir)}/ for the next start.
`)
}

main().catch((err: unknown) => {
  console.error(`npm start: ${(err as Error).message}`)
  // Nothing started yet (a port in use): nothing to stop, nothing written.
  if (children.size === 0) process.exit(1)
  void stopAll(1)
})
