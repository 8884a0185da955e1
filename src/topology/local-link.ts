/**
 * An in-process link pair between a node and the topology service, delivering on microtasks.
 * Messages are copied through JSON, exactly as a WebSocket would carry them.
 */
import type { TopologyLink } from './protocol.js'

class LocalEnd implements TopologyLink {
  peer!: LocalEnd
  private handlers: ((m: unknown) => void)[] = []
  private closeHandlers: ((reason: string) => void)[] = []
  open = true
  /** This end called close(): like a socket, it hears nothing more. */
  private closedHere = false

  send(msg: object): void {
    if (!this.open) return
    const copy = JSON.stringify(msg)
    // As on a WebSocket, what was sent before a close still arrives before the close.
    queueMicrotask(() => {
      if (!this.peer.closedHere) for (const h of this.peer.handlers) h(JSON.parse(copy))
    })
  }

  close(reason = 'closed'): void {
    if (!this.open) return
    this.open = false
    this.closedHere = true
    this.peer.open = false
    queueMicrotask(() => {
      for (const h of this.closeHandlers) h(reason)
      for (const h of this.peer.closeHandlers) h(reason)
    })
  }

  onMessage(handler: (msg: unknown) => void): void {
    this.handlers.push(handler)
  }

  onClose(handler: (reason: string) => void): void {
    this.closeHandlers.push(handler)
  }
}

/** Returns [nodeSide, serviceSide]. */
export function localLinkPair(): [TopologyLink, TopologyLink] {
  const a = new LocalEnd()
  const b = new LocalEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}
