/**
 * The topology service on a WebSocket port (Node, `ws`). Binds to 127.0.0.1 unless told otherwise.
 * Each socket becomes a TopologyLink carrying JSON text frames. Nothing a connection sends can end
 * the process: a socket that breaks the protocol, or whose message cannot be handled, is dropped,
 * counted in the service's stats and reported as a `linkError` event.
 */
import { WebSocketServer, type WebSocket } from 'ws'
import { DomainMeshError, InvalidOptionError } from '../errors.js'
import { checkSettings } from '../node/settings.js'
import { MIN_SECRET_LENGTH } from '../topology/auth.js'
import type { TopologyLink } from '../topology/protocol.js'
import { DEFAULT_SETTINGS, type ClusterSettings } from '../topology/view.js'
import { RealClock, type Clock } from '../util/clock.js'
import { Emitter } from '../util/events.js'
import { TopologyService, type TopologyServiceOptions } from './topology-service.js'
import { FileTopologyStateStore } from './topology-state-file.js'
import { EtcdClientMissingError } from './etcd-errors.js'
// Types only: the etcd client is imported (dynamically) only when `etcd` is given.
import type { EtcdTopologyInstance, EtcdTopologyOptions } from './etcd-topology.js'

export interface TopologyServerOptions extends Omit<TopologyServiceOptions, 'clock' | 'settings'> {
  /** The cluster's settings; each one left out takes its default (DEFAULT_SETTINGS). */
  settings?: Partial<ClusterSettings>
  host?: string
  /** 0 picks a free port. */
  port?: number
  clock?: Clock
  /** Largest message accepted from a node (signals carry SDP; 1 MiB is plenty). */
  maxPayload?: number
  /**
   * The file that keeps the service's state (epoch, members, owners) across restarts. Without
   * it (and without `store`) the state lives in memory: a restarted service then starts a new
   * history, which nodes that remember a later epoch refuse to follow.
   */
  stateFile?: string
  /**
   * Run as one of several instances sharing the cluster's state in etcd (docs/design.md), instead
   * of the embedded service with its state file. Not with `stateFile` or `store`.
   */
  etcd?: EtcdTopologyOptions
}

/** The server dropped a connection: its socket failed or broke the WebSocket protocol, or a message from it could not be handled. */
export class TopologyLinkDroppedError extends DomainMeshError {
  constructor(from: string, cause: unknown) {
    super('TOPOLOGY_LINK_DROPPED', `dropped a connection from ${from}: ${cause instanceof Error ? cause.message : String(cause)}`, { from })
    this.cause = cause
  }
}

export interface TopologyServerEvents {
  linkError: { error: TopologyLinkDroppedError }
  /** The listening socket failed after it started (e.g. accept ran out of file descriptors); it keeps serving. */
  serverError: { error: Error }
}

export interface TopologyServer {
  readonly url: string
  readonly port: number
  readonly service: TopologyService
  readonly events: Emitter<TopologyServerEvents>
  close(): Promise<void>
}

/**
 * Checks what a caller passed before anything starts, so a mistake is an error here and not a
 * service that fails at the first join. The secret follows the CLI's rule.
 */
function checkServerOptions(opts: TopologyServerOptions): ClusterSettings {
  if (typeof opts.clusterId !== 'string' || opts.clusterId.length === 0) throw new InvalidOptionError('clusterId', opts.clusterId, 'a cluster id')
  if (typeof opts.secret !== 'string' || opts.secret.length < MIN_SECRET_LENGTH) {
    // The secret itself is never echoed, only its length.
    const length = typeof opts.secret === 'string' ? `${opts.secret.length} characters` : typeof opts.secret
    throw new InvalidOptionError('secret', length, `a string of at least ${MIN_SECRET_LENGTH} characters`)
  }
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)) throw new InvalidOptionError('port', opts.port, 'a whole number from 0 to 65535')
  for (const key of ['healDelayMs', 'heartbeatMs'] as const) {
    const value = opts[key]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) throw new InvalidOptionError(key, value, 'a number of milliseconds, 0 or more')
  }
  return checkSettings({ ...DEFAULT_SETTINGS, ...opts.settings })
}

async function loadEtcdTopology(): Promise<typeof import('./etcd-topology.js')> {
  try {
    return await import('./etcd-topology.js')
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'(etcd3|cockatiel)'/.test((err as Error).message)) throw new EtcdClientMissingError(err)
    throw err
  }
}

/** An instance over etcd: `instance` in place of the embedded `service`. */
export interface EtcdTopologyServer extends Omit<TopologyServer, 'service'> {
  readonly instance: EtcdTopologyInstance
}

/** What the WebSocket server hands its connections to: the embedded service or an etcd instance. */
interface LinkAcceptor {
  accept(link: TopologyLink): void
  readonly stats: { linkErrors: number; serverErrors: number }
}

export async function startTopologyServer(opts: TopologyServerOptions & { etcd: EtcdTopologyOptions }): Promise<EtcdTopologyServer>
export async function startTopologyServer(opts: TopologyServerOptions & { etcd?: undefined }): Promise<TopologyServer>
export async function startTopologyServer(opts: TopologyServerOptions): Promise<TopologyServer | EtcdTopologyServer> {
  const settings = checkServerOptions(opts)
  if (opts.etcd) {
    // etcd keeps the state: a state file or store beside it would be a second truth.
    if (opts.stateFile || opts.store) throw new InvalidOptionError(opts.stateFile ? 'stateFile' : 'store', opts.stateFile ?? 'a store', 'nothing beside etcd (etcd keeps the topology state)')
    const { etcd, ...rest } = opts
    const { EtcdTopologyInstance } = await loadEtcdTopology()
    const instance = await EtcdTopologyInstance.start(etcd, { ...rest, settings, clock: opts.clock ?? new RealClock() })
    try {
      const server = await listen(opts, instance)
      return { ...server, instance, close: async () => (await Promise.all([server.close(), instance.close()]), undefined) }
    } catch (err) {
      await instance.close()
      throw err
    }
  }
  const store = opts.store ?? (opts.stateFile ? new FileTopologyStateStore(opts.stateFile) : undefined)
  const service = new TopologyService({ ...opts, settings, clock: opts.clock ?? new RealClock(), ...(store ? { store } : {}) })
  // A state that cannot be read is a reason not to start (never a reason to guess).
  await service.loaded
  const server = await listen(opts, service)
  return {
    ...server,
    service,
    close: async () => {
      service.close()
      await server.close()
    },
  }
}

async function listen(opts: TopologyServerOptions, acceptor: LinkAcceptor): Promise<Omit<TopologyServer, 'service'>> {
  const host = opts.host ?? '127.0.0.1'
  const events = new Emitter<TopologyServerEvents>()
  const wss = new WebSocketServer({ host, port: opts.port ?? 0, maxPayload: opts.maxPayload ?? 1024 * 1024 })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => {
      wss.off('error', reject)
      resolve()
    })
    wss.once('error', reject)
  })
  // An 'error' nobody listens to ends the process.
  wss.on('error', (error) => {
    acceptor.stats.serverErrors++
    events.emit('serverError', { error })
  })
  wss.on('connection', (socket, req) => {
    const from = `${req.socket.remoteAddress}:${req.socket.remotePort}`
    acceptor.accept(
      socketLink(socket, (cause) => {
        acceptor.stats.linkErrors++
        events.emit('linkError', { error: new TopologyLinkDroppedError(from, cause) })
      }),
    )
  })
  const address = wss.address()
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0)
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    events,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())))
    },
  }
}

function socketLink(socket: WebSocket, dropped: (cause: unknown) => void): TopologyLink {
  const drop = (cause: unknown) => {
    dropped(cause)
    socket.terminate()
  }
  // `ws` emits 'error' on a frame that breaks the protocol (bad opcode, reserved bits set, invalid
  // UTF-8, unmasked) and on a message over maxPayload, after it has sent its close frame. Such a
  // peer gets no closing handshake to wait for.
  socket.on('error', drop)
  return {
    send: (msg) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg))
    },
    close: (reason) => socket.close(1000, closeReason(reason ?? '')),
    onMessage: (handler) =>
      socket.on('message', (data, isBinary) => {
        let parsed: unknown
        if (!isBinary) {
          try {
            parsed = JSON.parse(String(data))
          } catch {
            parsed = undefined // not JSON: the schema check answers with "malformed message"
          }
        } // binary: undefined, refused by the schema with a clear error
        try {
          handler(parsed)
        } catch (err) {
          // Thrown out of this listener, it would end the process (e.g. a signal too deeply
          // nested to relay): the connection that sent it goes instead.
          drop(err)
        }
      }),
    onClose: (handler) => socket.on('close', (_code, reason) => handler(String(reason) || 'socket closed')),
  }
}

/** A close frame's reason is at most 123 bytes of UTF-8 (`ws` throws beyond); reasons may quote what a node sent. */
function closeReason(reason: string): string {
  let r = reason.slice(0, 123)
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1)
  return r
}
