/** `domainmesh topology`: runs the topology service on a WebSocket port. */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseStaticTopology } from '../server/static-topology.js'
import { startTopologyServer } from '../server/ws-server.js'
import { RealClock } from '../util/clock.js'
import { CliError, intFlag, onShutdown, parseFlags, secretFlag, stringFlag, clientKeyFlag } from './args.js'
import { consoleOut, TopologyConsole } from './console.js'
import { portError } from './ports.js'

export const TOPOLOGY_HELP = `domainmesh topology — run the topology (signaling) service

  --port N           port to listen on (default 7700; 0 picks a free one)
  --host ADDR        address to bind (default 127.0.0.1)
  --cluster ID       cluster id (default "demo")
  --secret S         cluster secret (or DOMAINMESH_SECRET)
  --replicas N       copies of each domain, 1-5 (default 2)
  --domains N        domains per virtual server (default 64)
  --heal-delay MS    grace before a failed node's domains are re-replicated (default 5000)
  --heartbeat MS     heartbeat interval nodes must keep (default 1000)
  --client-key FILE  public key (PEM) of the app's auth endpoint: admit clients (browser tabs
                     of users) with tokens it signs (or DOMAINMESH_CLIENT_KEY, the PEM itself)
  --member-key FILE  public key (PEM) of member tokens (issueMemberToken): a trusted tab joins
                     as a member without the secret (or DOMAINMESH_MEMBER_KEY)
  --static FILE      static topology JSON: only its nodes may join; its settings and pins apply
  --state FILE       where the service keeps its state (epoch, members, owners) across restarts
                     (default ./domainmesh-topology-<cluster>.json; "none" keeps it in memory only)
  --verbose          also print every view (to stderr; or DEBUG=domainmesh:topology)
  --etcd URL[,URL..] run as one of several instances sharing the state in etcd (any number of
                     them, each with the same cluster, secret and settings; no --state)
  --etcd-prefix P    etcd keys go under /P/<cluster>/ (default "domainmesh")
  --etcd-lease-ttl S this instance's lease in etcd (default 3): how long the others wait for it
                     to come back before one of them takes over the leading role
`

export async function topologyCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      cluster: { type: 'string' },
      secret: { type: 'string' },
      replicas: { type: 'string' },
      domains: { type: 'string' },
      'heal-delay': { type: 'string' },
      heartbeat: { type: 'string' },
      static: { type: 'string' },
      'client-key': { type: 'string' },
      'member-key': { type: 'string' },
      state: { type: 'string' },
      verbose: { type: 'boolean' },
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'etcd-lease-ttl': { type: 'string' },
    },
    'topology',
  )
  if (v.help) return void process.stdout.write(TOPOLOGY_HELP)
  let clusterId = stringFlag(v, 'cluster', 'demo')
  let settings = { domainCount: intFlag(v, 'domains', 64, 1, 4096), replicas: intFlag(v, 'replicas', 2, 1, 5) }
  let healDelayMs = intFlag(v, 'heal-delay', 5000, 0, 86_400_000)
  let allowedNodes: string[] | undefined
  if (typeof v.static === 'string') {
    let json: unknown
    try {
      json = JSON.parse(await readFile(v.static, 'utf8'))
    } catch (err) {
      throw new CliError(`--static ${v.static}: ${(err as Error).message}`)
    }
    const t = parseStaticTopology(json)
    ;({ clusterId, settings, healDelayMs, allowedNodes } = t)
  }
  const host = typeof v.host === 'string' ? v.host : '127.0.0.1'
  const port = intFlag(v, 'port', 7700, 0, 65535)
  const out = consoleOut(v.verbose === true)
  const clientAuth = await clientKeyFlag(v)
  const memberAuth = await clientKeyFlag(v, 'member-key')
  const common = {
    clusterId,
    secret: secretFlag(v),
    ...(clientAuth ? { clientAuth } : {}),
    ...(memberAuth ? { memberAuth } : {}),
    settings,
    healDelayMs,
    heartbeatMs: intFlag(v, 'heartbeat', 1000, 50, 60_000),
    host,
    port,
    ...(allowedNodes ? { allowedNodes } : {}),
  }
  if (typeof v.etcd !== 'string') {
    for (const f of ['etcd-prefix', 'etcd-lease-ttl']) if (v[f] !== undefined) throw new CliError(`--${f} needs --etcd`)
  } else {
    if (typeof v.state === 'string') throw new CliError('--state and --etcd exclude each other: with --etcd the state is kept in etcd')
    const hosts = v.etcd.split(',').filter((u) => u !== '')
    if (hosts.length === 0) throw new CliError('--etcd takes one or more http(s)://host:port URLs, separated by commas')
    for (const h of hosts) {
      const m = /^https?:\/\/(?:\[[0-9a-fA-F:.]+\]|[^/:[\]]+)(?::(\d+))?$/.exec(h)
      if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535))) throw new CliError(`--etcd takes http(s)://host:port URLs, not "${h}"`)
    }
    const prefix = typeof v['etcd-prefix'] === 'string' ? v['etcd-prefix'] : 'domainmesh'
    if (!/^[A-Za-z0-9._-]+$/.test(prefix)) throw new CliError(`--etcd-prefix takes letters, digits, ".", "_" and "-", not "${prefix}"`)
    const server = await startTopologyServer({ ...common, etcd: { hosts, prefix, leaseTtlSeconds: intFlag(v, 'etcd-lease-ttl', 3, 1, 600) } })
    const inst = server.instance
    inst.events.on('view', ({ view }) => console.log(`[${inst.instanceId}] view ${view.epoch}: ${view.members.map((m) => `${m.nodeId}${m.status === 'down' ? '(down)' : ''}`).join(' ') || '(empty)'}`))
    inst.events.on('leader', ({ leading, reason }) => console.log(leading ? `instance ${inst.instanceId} leads: it runs failure detection and publishes views` : `instance ${inst.instanceId} stopped leading: ${reason}`))
    inst.events.on('refused', ({ reason }) => console.log(`refused a node: ${reason}`))
    inst.events.on('recovering', ({ epoch, domains }) => console.log(`no saved state: rebuilding it from the nodes' last views (epoch ${epoch}); ${domains} domains wait for their owners to report`))
    inst.events.on('etcd-error', ({ error }) => console.error(error.message))
    server.events.on('linkError', ({ error }) => console.log(error.message))
    server.events.on('serverError', ({ error }) => console.error(`topology server error (still serving): ${error.message}`))
    console.log(`topology instance ${inst.instanceId} for cluster "${clusterId}" listening on ${server.url} (replicas ${settings.replicas}, ${settings.domainCount} domains, heal delay ${healDelayMs} ms, state in etcd ${hosts.join(',')} under /${prefix}/${clusterId}/)`)
    onShutdown(() => server.close())
    return
  }
  const stateFlag = typeof v.state === 'string' ? v.state : `domainmesh-topology-${clusterId}.json`
  const stateFile = stateFlag === 'none' ? undefined : resolve(stateFlag)
  const server = await startTopologyServer({ ...common, ...(stateFile ? { stateFile } : {}) }).catch((err: unknown) => {
    throw portError(err, host, port, 'topology service', 'another topology service running? Choose another port with --port')
  })
  const lines = new TopologyConsole(out, new RealClock(), settings, healDelayMs)
  server.service.events.on('view', ({ view }) => lines.view(view))
  server.service.events.on('refused', ({ reason }) => console.log(`refused a node: ${reason}`))
  server.service.events.on('recovering', ({ epoch, domains }) => console.log(`no saved state: rebuilding it from the nodes' last views (epoch ${epoch}); ${domains} domains wait for their owners to report`))
  let waitingBefore = ''
  server.service.events.on('view', ({ view }) => {
    const now = server.service.waitingFor().map((w) => `${w.domain}${w.nodes.length ? ` (waits for ${w.nodes.join(', ')})` : ''}`).join(', ')
    if (now !== waitingBefore) console.log(now ? `domains without a primary until their owners report: ${now}` : 'every domain has its owners back')
    waitingBefore = now
  })
  server.service.events.on('state-error', ({ error }) => console.error(`topology state: ${error.message}; no more views are published`))
  server.events.on('linkError', ({ error }) => console.log(error.message))
  server.events.on('serverError', ({ error }) => console.error(`topology server error (still serving): ${error.message}`))
  console.log(`topology service for cluster "${clusterId}" listening on ${server.url} (replicas ${settings.replicas}, ${settings.domainCount} domains, heal delay ${healDelayMs} ms, state ${stateFile ?? 'in memory only'})`)
  onShutdown(() => server.close())
}
