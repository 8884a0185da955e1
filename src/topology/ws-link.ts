/**
 * Connects a node to the topology service over a WebSocket. Browser-safe: it uses the standard
 * WebSocket API (the browser's, Node 22's, or the `ws` package's, passed in by the Node entry).
 */
import { DomainMeshError } from '../errors.js'
import type { TopologyConnector } from './client.js'
import type { TopologyLink } from './protocol.js'

export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (ev: { data?: unknown; reason?: string }) => void): void
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export class TopologyUnreachableError extends DomainMeshError {
  constructor(url: string, why: string) {
    super('TOPOLOGY_UNREACHABLE', `cannot reach the topology service at ${url}: ${why}`, { url })
  }
}

/**
 * How long a WebSocket may take to open. A service that hangs (a stopped process, a machine cut
 * off) may still have its kernel accept the connection, and then the upgrade never comes: without
 * a limit the node waited for ever instead of trying the next instance.
 */
export const OPEN_TIMEOUT_MS = 5000

export function websocketConnector(url: string, Impl: WebSocketConstructor | undefined = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket, openTimeoutMs = OPEN_TIMEOUT_MS): TopologyConnector {
  if (!Impl) throw new TopologyUnreachableError(url, 'no WebSocket implementation in this environment (pass one)')
  return () =>
    new Promise<TopologyLink>((resolve, reject) => {
      const ws = new Impl(url)
      const messageHandlers: ((m: unknown) => void)[] = []
      const closeHandlers: ((r: string) => void)[] = []
      let opened = false
      // Real time: this is the socket's own edge, as the socket's timeouts are.
      const timer = setTimeout(() => {
        if (opened) return
        reject(new TopologyUnreachableError(url, `no answer within ${openTimeoutMs} ms`))
        ws.close()
      }, openTimeoutMs)
      ws.addEventListener('open', () => {
        clearTimeout(timer)
        opened = true
        resolve({
          send: (msg) => {
            if (ws.readyState === 1) ws.send(JSON.stringify(msg))
          },
          close: (reason) => ws.close(1000, (reason ?? '').slice(0, 120)),
          onMessage: (h) => void messageHandlers.push(h),
          onClose: (h) => void closeHandlers.push(h),
        })
      })
      ws.addEventListener('message', (ev) => {
        let msg: unknown
        try {
          msg = JSON.parse(String(ev.data))
        } catch {
          msg = undefined // answered by the client's schema check as a bad message
        }
        for (const h of messageHandlers) h(msg)
      })
      ws.addEventListener('error', () => {
        if (opened) return
        clearTimeout(timer)
        reject(new TopologyUnreachableError(url, 'connection failed'))
      })
      ws.addEventListener('close', (ev) => {
        if (!opened) {
          clearTimeout(timer)
          return reject(new TopologyUnreachableError(url, ev.reason || 'closed before it opened'))
        }
        for (const h of closeHandlers) h(ev.reason || 'socket closed')
      })
    })
}
