/**
 * Where a client's store calls go (the StoreBackend of MeshClient): to the key's primary, over a
 * link to it if the client has or may open one, else through a member it is linked to, which
 * forwards it (ClientLinks). A client holds no replica; its only copy is a cache of what it last
 * read or heard, which `get(key, { from: 'local' })` reads and `subscribe(…, { from: 'local' })`
 * follows. Keys the client subscribes to stay current in it; others hold what was last read.
 */
import { NoPrimaryError } from '../errors.js'
import type { ClusterId, NodeId, VirtualServerId } from '../ids.js'
import { DEFAULT_LIMITS, type Limits } from '../objects/guard.js'
import type { Change } from '../objects/objects.js'
import { applyPatch } from '../objects/patch.js'
import type { Messenger } from '../routing/messenger.js'
import { STORE_ENGINE_ID } from '../store/port.js'
import type { ReadResult, WriteAck } from '../store/store-engine.js'
import type { StoreBackend, StoreCall, Versioned } from '../store/store.js'
import { WatchRegistry, type ChangeEvent, type WatchPattern } from '../store/watch.js'
import { domainOf, domainRoles } from '../topology/placement.js'
import type { ClusterSettings, View } from '../topology/view.js'
import type { ClientLinks } from './links.js'

interface Cached {
  /** undefined: known absent. */
  value: unknown
  version: number
}

export class ClientBackend implements StoreBackend {
  readonly limits: Limits = DEFAULT_LIMITS
  readonly watches = new WatchRegistry()
  private readonly cache = new Map<string, Cached>()
  /** The member that holds this client's subscriptions now. */
  private home: NodeId | undefined
  private announcing: Promise<void> = Promise.resolve()

  constructor(
    private readonly clusterId: ClusterId,
    private readonly self: NodeId,
    private readonly links: ClientLinks,
    private readonly messenger: () => Messenger,
    private readonly view: () => View,
    private readonly settings: () => ClusterSettings,
    readonly writeTimeoutMs: number,
  ) {}

  primaryOf(vs: VirtualServerId, key: string): NodeId {
    const domain = domainOf(vs, key, this.settings().domainCount)
    const primary = domainRoles(this.view(), this.settings(), domain).primary
    if (!primary) throw new NoPrimaryError(domain)
    return primary
  }

  here(_primary: NodeId, call: StoreCall): Promise<unknown> | undefined {
    if (call.method !== 'read' || !call.body.local) return undefined
    const c = this.cache.get(cacheKey(call.body.vs, call.body.key))
    if (!c) return undefined
    if (c.value === undefined) return Promise.resolve({ found: false, version: c.version } satisfies ReadResult)
    let value: unknown = c.value
    for (const seg of call.body.path) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, seg)) return undefined
      value = (value as Record<string | number, unknown>)[seg]
    }
    return Promise.resolve({ found: true, value, version: c.version } satisfies ReadResult)
  }

  async send(primary: NodeId, call: StoreCall, timeoutMs: number): Promise<unknown> {
    // A subscription made before this call is in place first: the call's change is heard.
    await this.announcing
    const via = await this.links.via(primary)
    const to = { clusterId: this.clusterId, nodeId: via, engineId: STORE_ENGINE_ID, virtualServerId: call.body.vs }
    const answer = await this.messenger().request(this.address(), to, call.method, call.body, timeoutMs)
    const k = cacheKey(call.body.vs, call.body.key)
    if (call.method === 'read') {
      const r = answer as ReadResult
      if (call.body.path.length === 0) this.cache.set(k, { value: r.found ? r.value : undefined, version: r.version })
    } else this.applied(call.body.vs, call.body.key, call.change, (answer as WriteAck).seq, -1)
    return answer
  }

  expedite(): void {
    this.messenger().expedite()
  }

  readCommittedHere(): Versioned<unknown> | undefined {
    return undefined
  }

  watch(pattern: WatchPattern, listener: (e: ChangeEvent) => void, from: 'primary' | 'local'): () => void {
    // Either way the member must pass the pattern's changes on: the local copy follows them too.
    const off = this.watches.addLocal(pattern, listener, from === 'local' ? 'copy' : 'committed')
    const silent = from === 'local' ? this.watches.addLocal(pattern, () => {}) : () => {}
    this.announce()
    return () => {
      off()
      silent()
      this.announce()
    }
  }

  /** A change notice from the member that holds our subscriptions. */
  changed(domain: number, entries: readonly { seq: number; vs: string; key: string; change: Change }[]): void {
    for (const e of entries) {
      this.applied(e.vs, e.key, e.change, e.seq, domain)
      this.watches.deliver({ domain, seq: e.seq, vs: e.vs, key: e.key, change: e.change })
    }
  }

  /** A link came up: the first one (or a new one after the home's went) takes our subscriptions. */
  linkReady(member: NodeId): void {
    if (this.home && this.links.linked.includes(this.home)) return
    this.home = member
    this.announce()
  }

  /** The home's link went: subscriptions move to another member. */
  linkDown(member: NodeId): void {
    if (member !== this.home) return
    this.home = undefined
    if (this.watches.hasLocal()) this.announce()
  }

  private announce(): void {
    const patterns = this.watches.localPatterns()
    this.announcing = this.announcing.then(async () => {
      if (patterns.length === 0 && !this.home) return
      try {
        const home = this.home && this.links.linked.includes(this.home) ? this.home : await this.links.home()
        this.home = home
        this.links.pinned = patterns.length > 0 ? home : undefined
        await this.messenger().request(this.address(), { clusterId: this.clusterId, nodeId: home, engineId: STORE_ENGINE_ID }, 'watch', { patterns })
      } catch {
        // No member reachable now: the next link that comes up takes them (linkReady).
        this.home = undefined
      }
    })
  }

  private applied(vs: string, key: string, change: Change, seq: number, domain: number): void {
    const k = cacheKey(vs, key)
    const c = this.cache.get(k)
    if (c && c.version >= seq) return
    if (change.kind === 'put') this.cache.set(k, { value: change.value, version: seq })
    else if (change.kind === 'delete') this.cache.set(k, { value: undefined, version: seq })
    else if (c && c.value !== undefined) this.cache.set(k, { value: change.patches.reduce<unknown>((v, p) => applyPatch(v, p), c.value), version: seq })
    else this.cache.delete(k)
    if (domain >= 0) this.watches.deliverApplied({ domain, seq, vs, key, change })
  }

  private address() {
    return { clusterId: this.clusterId, nodeId: this.self, engineId: STORE_ENGINE_ID }
  }
}

const cacheKey = (vs: string, key: string): string => `${vs}\u0000${key}`
