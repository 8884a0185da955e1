/**
 * The store as an application sees it, bound to one virtual server. Any node can be asked: each
 * call goes to the primary of the key's domain. `update` runs an Immer recipe locally and sends
 * only the patches, guarded by a compare-and-set on the sub-elements it touches, so concurrent
 * updates of different fields both land and updates of the same field are retried on fresh data.
 */
import type { Draft, Patch } from 'immer'
import { InvalidOptionError, NoRouteError, type DomainMeshError } from '../errors.js'
import type { NodeId, VirtualServerId } from '../ids.js'
import { sleep, type Clock } from '../util/clock.js'
import { KeyNotFoundError, NoPrimaryError } from './errors.js'
import { validateWrite } from './guard.js'
import { toWireChange } from './log.js'
import type { Change, Path } from './objects.js'
import type { MessengerStatePort } from './port.js'
import type { StateManager } from './state-manager.js'
import { answerTimeout, type ReadResult, type StoreEngine, type WriteAck } from './store-engine.js'
import type { ChangeEvent } from './watch.js'
import { produceWithPatches } from '../util/patches.js'

export interface WriteOptions {
  /** Compare-and-set: the write applies only if what it touches is still at this version (0: absent). */
  ifVersion?: number
}

export interface ReadOptions {
  /** 'primary' (default) sees every acknowledged write; 'local' reads this node's copy if it has one. */
  from?: 'primary' | 'local'
  /** Read one sub-element. Its version is the last write to it, to an ancestor, or inside it. */
  path?: Path
}

export interface Versioned<T> {
  value: T
  version: number
}

/** Errors that prove the request was not applied, so sending it again is safe. */
const RETRYABLE = new Set(['NOT_PRIMARY', 'NO_PRIMARY', 'NO_ROUTE'])
/** Waits between attempts: a view may be settling, or a link to the primary still coming up. */
const BACKOFF_MS = [0, 50, 100, 200, 400, 800]

export class Store {
  constructor(
    readonly virtualServerId: VirtualServerId,
    private readonly self: NodeId,
    private readonly engine: StoreEngine,
    private readonly state: StateManager,
    private readonly port: MessengerStatePort,
    private readonly peers: () => NodeId[],
    private readonly clock: Clock,
  ) {}

  put(key: string, value: unknown, opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write(key, { kind: 'put', value }, opts.ifVersion)
  }

  patch(key: string, patches: Patch[], opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write(key, { kind: 'patch', patches }, opts.ifVersion)
  }

  delete(key: string, opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write(key, { kind: 'delete' }, opts.ifVersion)
  }

  /** Runs `recipe` on the current value and sends its patches. Resolves undefined if nothing changed. */
  async update<T>(key: string, recipe: (draft: Draft<T>) => void, opts: { retries?: number } = {}): Promise<WriteAck | undefined> {
    const retries = opts.retries ?? 5
    for (let attempt = 0; ; attempt++) {
      // First try the local copy (no transfer); a copy that lags or lacks the key defers to the primary.
      const base = (attempt === 0 ? await this.getVersioned<T>(key, { from: 'local' }) : undefined) ?? (await this.getVersioned<T>(key))
      if (!base) throw new KeyNotFoundError(key)
      const [, patches] = produceWithPatches(base.value, recipe)
      if (patches.length === 0) return undefined
      try {
        return await this.patch(key, patches, { ifVersion: base.version })
      } catch (err) {
        if ((err as DomainMeshError).code !== 'CAS_CONFLICT' || attempt >= retries) throw err
      }
    }
  }

  async get<T = unknown>(key: string, opts: ReadOptions = {}): Promise<T | undefined> {
    return (await this.getVersioned<T>(key, opts))?.value
  }

  async getVersioned<T = unknown>(key: string, opts: ReadOptions = {}): Promise<Versioned<T> | undefined> {
    const local = opts.from === 'local'
    const path = opts.path ?? []
    const r = (await this.route(key, 'read', { vs: this.virtualServerId, key, path, local }, (primary) =>
      primary === this.self || (local && this.state.readLocal(this.virtualServerId, key).held) ? this.engine.read(this.virtualServerId, key, path, local, 0) : undefined,
    )) as ReadResult
    return r.found ? { value: r.value as T, version: r.version } : undefined
  }

  /**
   * Calls `listener` with every committed change to `key` (or to keys starting with `prefix`).
   * With `{ from: 'local' }` it hears this node's own copy instead, as `get(key, { from: 'local' })`
   * sees it: each change the moment this node applies it (as primary or backup), before it is
   * known to be committed, and nothing for keys whose domain this node holds no copy of. Changes
   * a copy receives inside a snapshot (a healing copy, a long absence) are not told one by one.
   */
  subscribe(target: string | { prefix: string }, listener: (e: ChangeEvent) => void, opts: { from?: 'primary' | 'local' } = {}): () => void {
    const pattern = typeof target === 'string' ? { vs: this.virtualServerId, key: target } : { vs: this.virtualServerId, prefix: target.prefix }
    if (opts.from !== undefined && opts.from !== 'primary' && opts.from !== 'local') throw new InvalidOptionError('subscribe from', opts.from, "'primary' or 'local'")
    if (opts.from === 'local') return this.engine.watchCopy(pattern, listener)
    const off = this.engine.watches.addLocal(pattern, listener)
    this.engine.announceWatches(this.peers())
    return () => {
      off()
      this.engine.announceWatches(this.peers())
    }
  }

  private async write(key: string, change: Change, ifVersion: number | undefined): Promise<WriteAck> {
    // Checked here too: the codec would quietly turn a Map into an object or drop a function.
    validateWrite(key, change, this.state.limits)
    return (await this.route(key, 'write', { vs: this.virtualServerId, key, change: toWireChange(change), ifVersion }, (primary) =>
      primary === this.self ? this.engine.write(this.virtualServerId, key, change, ifVersion, 0) : undefined,
    )) as WriteAck
  }

  /** Sends to the key's primary (locally when `local` handles it), retrying while placement settles. */
  private async route(key: string, name: string, body: unknown, local: (primary: NodeId) => Promise<unknown> | undefined): Promise<unknown> {
    this.port.expedite()
    for (let attempt = 1; ; attempt++) {
      const wait = BACKOFF_MS[attempt - 1] ?? 0
      if (wait > 0) await sleep(this.clock, wait)
      try {
        const domain = this.state.domainOf(this.virtualServerId, key)
        const primary = this.state.placement(domain).primary
        if (!primary) throw new NoPrimaryError(domain)
        return await (local(primary) ?? this.port.request(primary, name, body, this.virtualServerId, answerTimeout(this.state.writeTimeoutMs)))
      } catch (err) {
        const code = (err as DomainMeshError).code
        if (attempt >= BACKOFF_MS.length || !(RETRYABLE.has(code) || err instanceof NoRouteError)) throw err
      }
    }
  }
}
