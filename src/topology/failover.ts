/**
 * A node's list of topology instances (any of several over etcd, docs/design.md): each connect
 * tries the instance that served last, then the next ones in turn, so a node whose instance died
 * reaches another on its next attempt. The TopologyClient's jittered backoff spaces the rounds.
 * Browser-safe.
 */
import type { TopologyConnector } from './client.js'
import { TopologyUnreachableError, websocketConnector, type WebSocketConstructor } from './ws-link.js'

export function failoverConnector(connectors: readonly TopologyConnector[], names: readonly string[] = connectors.map((_, i) => `#${i + 1}`)): TopologyConnector {
  if (connectors.length === 0) throw new TopologyUnreachableError('(none)', 'no topology URL given')
  let current = 0
  return async () => {
    const why: string[] = []
    for (let i = 0; i < connectors.length; i++) {
      const at = (current + i) % connectors.length
      try {
        const link = await connectors[at]!()
        current = at
        // Once this link ends (its instance died or hung, or this node gave up on it), the next
        // attempt starts at the next instance: a hung one would cost an open timeout first.
        let moved = false
        const moveOn = () => {
          if (moved) return
          moved = true
          if (current === at) current = (at + 1) % connectors.length
        }
        link.onClose(moveOn)
        return {
          send: (msg) => link.send(msg),
          close: (reason) => {
            moveOn()
            link.close(reason)
          },
          onMessage: (h) => link.onMessage(h),
          onClose: (h) => link.onClose(h),
        }
      } catch (err) {
        why.push(`${names[at]}: ${(err as Error).message}`)
      }
    }
    // Next round starts after the one that failed first.
    current = (current + 1) % connectors.length
    throw new TopologyUnreachableError(names.join(', '), why.join('; '))
  }
}

/** WebSocket connectors for a list of URLs (browser: the global WebSocket; Node: pass `ws`). */
export function websocketFailoverConnector(urls: readonly string[], Impl?: WebSocketConstructor): TopologyConnector {
  return failoverConnector(
    urls.map((u) => websocketConnector(u, Impl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket)),
    urls,
  )
}
