/**
 * Where a client's store calls go (the StoreBackend of MeshClient): to the key's primary, over a
 * link to it if the client has or may open one, else through a member it is linked to, which
 * forwards it (ClientLinks). A client holds no replica; its only copy is a cache of what it last
 * read or heard, which `get(key, { from: 'local' })` reads and `subscribe(…, { from: 'local' })`
 * follows. Keys the client subscribes to stay current in it; others hold what was last read.
 * With a `Storage` (IndexedDbStorage in a browser) the cache outlives the page: written behind,
 * read back at start, at most `maxCached` keys (the least recently set go first).
 */
import { ClosedError, NoPrimaryError } from '../errors.js'
import { ForbiddenError } from '../auth/credentials.js'
import type { Storage, StorageOp } from '../storage/storage.js'
import { MAX_SEGMENT_LENGTH } from '../storage/storage.js'
import { decodeValue, encodeValue } from '../wire/codec.js'
import type { Clock, TimerHandle } from '../util/clock.js'
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

export interface ClientCacheOptions {
  storage: Storage
  /** Keys kept at most (default 10,000). */
  maxCached?: number
  /** A write of the cache failed (the cache in memory goes on; MeshClient emits it as `error`). */
  onError?: (error: unknown) => void
}

const CACHE = 'cache'
/** How long cache writes gather before they go to storage in one batch. */
const FLUSH_MS = 200

export class ClientBackend implements StoreBackend {
  readonly limits: Limits = DEFAULT_LIMITS
  readonly watches = new WatchRegistry()
  private readonly cache = new Map<string, Cached>()
  /** The member that holds this client's subscriptions now. */
  private home: NodeId | undefined
  private announcing: Promise<void> = Promise.resolve()
  private readonly dirty = new Set<string>()
  private flushTimer: TimerHandle | undefined
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly clusterId: ClusterId,
    private readonly self: NodeId,
    private readonly links: ClientLinks,
    private readonly messenger: () => Messenger,
    private readonly view: () => View,
    private readonly settings: () => ClusterSettings,
    readonly writeTimeoutMs: number,
    private readonly clock: Clock,
    private readonly persist?: ClientCacheOptions,
    /** What goes wrong outside any call (a refused subscription, no member to hold them): MeshClient's `error` event. */
    private readonly report: (error: unknown) => void = () => {},
  ) {}

  private closed = false

  /** Reads the cache a previous page left in storage. */
  async load(): Promise<void> {
    if (!this.persist) return
    for (const e of await this.persist.storage.list([CACHE])) {
      const [vs, key] = [e.key[1], e.key[2]]
      if (vs === undefined || key === undefined) continue
      const c = decodeValue(e.value) as { v?: unknown; n: number; a?: true }
      this.cache.set(cacheKey(vs, key), { value: c.a ? undefined : c.v, version: c.n })
    }
  }

  /** Writes what the cache gathered and stops writing; calls fail with ClosedError from now on. */
  async close(): Promise<void> {
    this.closed = true
    if (this.flushTimer) this.clock.clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    await this.flush()
  }

  primaryOf(vs: VirtualServerId, key: string): NodeId {
    if (this.closed) throw new ClosedError('client')
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
      if (call.body.path.length === 0) this.remember(k, { value: r.found ? r.value : undefined, version: r.version })
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
    this.links.pinned = undefined
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
        const answer = (await this.messenger().request(this.address(), { clusterId: this.clusterId, nodeId: home, engineId: STORE_ENGINE_ID }, 'watch', { patterns })) as { refused?: WatchPattern[] }
        for (const p of answer.refused ?? []) this.report(new ForbiddenError(this.self, 'subscribe', p.vs, p.key ?? `${p.prefix ?? ''}*`))
      } catch (error) {
        // No member reachable now: the next link that comes up takes them (linkReady).
        this.home = undefined
        if (!this.closed) this.report(error)
      }
    })
  }

  private applied(vs: string, key: string, change: Change, seq: number, domain: number): void {
    const k = cacheKey(vs, key)
    const c = this.cache.get(k)
    if (c && c.version >= seq) return
    if (change.kind === 'put') this.remember(k, { value: change.value, version: seq })
    else if (change.kind === 'delete') this.remember(k, { value: undefined, version: seq })
    else if (c && c.value !== undefined) this.remember(k, { value: change.patches.reduce<unknown>((v, p) => applyPatch(v, p), c.value), version: seq })
    else this.forget(k)
    if (domain >= 0) this.watches.deliverApplied({ domain, seq, vs, key, change })
  }

  private remember(k: string, c: Cached): void {
    this.cache.delete(k)
    this.cache.set(k, c)
    const max = this.persist?.maxCached ?? 10_000
    for (const old of this.cache.keys()) {
      if (this.cache.size <= max) break
      this.forget(old)
    }
    this.touched(k)
  }

  private forget(k: string): void {
    if (this.cache.delete(k)) this.touched(k)
  }

  private touched(k: string): void {
    if (!this.persist) return
    this.dirty.add(k)
    this.flushTimer ??= this.clock.setTimeout(() => {
      this.flushTimer = undefined
      void this.flush()
    }, FLUSH_MS)
  }

  /** One batch for what changed; a key or virtual server too long for a storage key is not kept. */
  private flush(): Promise<void> {
    const storage = this.persist?.storage
    if (!storage || this.dirty.size === 0) return this.flushing
    const ops: StorageOp[] = []
    for (const k of this.dirty) {
      const at = k.indexOf('\u0000')
      const [vs, key] = [k.slice(0, at), k.slice(at + 1)]
      if (vs.length > MAX_SEGMENT_LENGTH || key.length > MAX_SEGMENT_LENGTH || key.length === 0) continue
      const c = this.cache.get(k)
      ops.push(c ? { type: 'put', key: [CACHE, vs, key], value: encodeValue(c.value === undefined ? { n: c.version, a: true } : { v: c.value, n: c.version }) } : { type: 'delete', key: [CACHE, vs, key] })
    }
    this.dirty.clear()
    // One batch at a time, in order: a later state of a key never lands under an earlier one.
    this.flushing = this.flushing.then(() => storage.batch(ops)).catch((error: unknown) => this.persist?.onError?.(error))
    return this.flushing
  }

  private address() {
    return { clusterId: this.clusterId, nodeId: this.self, engineId: STORE_ENGINE_ID }
  }
}

const cacheKey = (vs: string, key: string): string => `${vs}\u0000${key}`
