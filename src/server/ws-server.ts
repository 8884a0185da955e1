/**
 * The topology service on a WebSocket port (Node, `ws`). Binds to 127.0.0.1 unless told otherwise.
 * Each socket becomes a TopologyLink carrying JSON text frames.
 */
import { WebSocketServer, type WebSocket } from 'ws'
import type { TopologyLink } from '../topology/protocol.js'
import { RealClock, type Clock } from '../util/clock.js'
import { TopologyService, type TopologyServiceOptions } from './topology-service.js'
import { FileTopologyStateStore } from './topology-state-file.js'

export interface TopologyServerOptions extends Omit<TopologyServiceOptions, 'clock'> {
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
}

export interface TopologyServer {
  readonly url: string
  readonly port: number
  readonly service: TopologyService
  close(): Promise<void>
}

export async function startTopologyServer(opts: TopologyServerOptions): Promise<TopologyServer> {
  const host = opts.host ?? '127.0.0.1'
  const store = opts.store ?? (opts.stateFile ? new FileTopologyStateStore(opts.stateFile) : undefined)
  const service = new TopologyService({ ...opts, clock: opts.clock ?? new RealClock(), ...(store ? { store } : {}) })
  // A state that cannot be read is a reason not to start (never a reason to guess).
  await service.loaded
  const wss = new WebSocketServer({ host, port: opts.port ?? 0, maxPayload: opts.maxPayload ?? 1024 * 1024 })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve)
    wss.once('error', reject)
  })
  wss.on('connection', (socket) => service.accept(socketLink(socket)))
  const address = wss.address()
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0)
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    service,
    close: async () => {
      service.close()
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())))
    },
  }
}

function socketLink(socket: WebSocket): TopologyLink {
  return {
    send: (msg) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg))
    },
    close: (reason) => socket.close(1000, (reason ?? '').slice(0, 120)),
    onMessage: (handler) =>
      socket.on('message', (data, isBinary) => {
        if (isBinary) return handler(undefined) // refused by the schema with a clear error
        let parsed: unknown
        try {
          parsed = JSON.parse(String(data))
        } catch {
          parsed = undefined // not JSON: the schema check answers with "malformed message"
        }
        handler(parsed)
      }),
    onClose: (handler) => socket.on('close', (_code, reason) => handler(String(reason) || 'socket closed')),
  }
}
