/**
 * Who wants to hear about which keys. Local listeners live here; remote nodes tell us their
 * patterns with `watch` messages, so whichever node is primary when a write commits can tell them.
 */
import type { NodeId } from '../ids.js'
import type { Change } from '../objects/objects.js'

export interface WatchPattern {
  vs: string
  key?: string | undefined
  prefix?: string | undefined
}

export interface ChangeEvent {
  vs: string
  key: string
  domain: number
  seq: number
  change: Change
}

export const matches = (p: WatchPattern, vs: string, key: string): boolean =>
  p.vs === vs && (p.key !== undefined ? p.key === key : key.startsWith(p.prefix ?? ''))

type LocalWatch = { pattern: WatchPattern; listener: (e: ChangeEvent) => void }

export class WatchRegistry {
  private readonly local = new Set<LocalWatch>()
  /** Listeners on this node's own copy: told when it applies a change, committed or not yet. */
  private readonly copy = new Set<LocalWatch>()
  private readonly remote = new Map<NodeId, WatchPattern[]>()
  /** Per domain, the last seq delivered to local listeners: a change arriving twice is told once. */
  private readonly delivered = new Map<number, number>()

  /** A local listener: on committed changes, or ('copy') on what this node's own copy applies. */
  addLocal(pattern: WatchPattern, listener: (e: ChangeEvent) => void, of: 'committed' | 'copy' = 'committed'): () => void {
    const entry = { pattern, listener }
    const set = of === 'copy' ? this.copy : this.local
    set.add(entry)
    return () => set.delete(entry)
  }

  hasCopy(): boolean {
    return this.copy.size > 0
  }

  localPatterns(): WatchPattern[] {
    return [...this.local].map((e) => e.pattern)
  }

  setRemote(node: NodeId, patterns: WatchPattern[]): void {
    if (patterns.length) this.remote.set(node, patterns)
    else this.remote.delete(node)
  }

  dropRemote(node: NodeId): void {
    this.remote.delete(node)
  }

  /** Remote nodes interested in this key. */
  watchersOf(vs: string, key: string): NodeId[] {
    const out: NodeId[] = []
    for (const [node, patterns] of this.remote) if (patterns.some((p) => matches(p, vs, key))) out.push(node)
    return out
  }

  deliver(e: ChangeEvent): void {
    if ((this.delivered.get(e.domain) ?? 0) >= e.seq) return
    this.delivered.set(e.domain, e.seq)
    for (const { pattern, listener } of [...this.local]) if (matches(pattern, e.vs, e.key)) listener(e)
  }

  /** A change this node's copy applied (each entry applies once per copy: no dedup needed). */
  deliverApplied(e: ChangeEvent): void {
    // No copy of the set: this runs for every entry the node applies, and a Set's iteration
    // already skips a listener removed meanwhile.
    for (const { pattern, listener } of this.copy) if (matches(pattern, e.vs, e.key)) listener(e)
  }

  hasLocal(): boolean {
    return this.local.size > 0
  }
}
