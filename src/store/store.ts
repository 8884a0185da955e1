/**
 * The store as an application sees it, bound to one virtual server, the same on a member
 * (MeshNode) and on a client (MeshClient). Each call goes to the primary of the key's domain; the
 * backend (member-backend.ts, client/client-backend.ts) is the one place that decides how it gets
 * there: run here, sent over a link, or relayed by a member. `update` runs an Immer recipe locally and sends
 * only the patches, guarded by a compare-and-set on the sub-elements it touches, so concurrent
 * updates of different fields both land and updates of the same field are retried on fresh data.
 */
import type { Draft } from 'immer'
import { DomainMeshError, InvalidOptionError, NoRouteError, NotConnectedError, OutcomeUnknownError, isRemote, neverSent, retryOf, KeyNotFoundError } from '../errors.js'
import type { NodeId, VirtualServerId } from '../ids.js'
import type { Limits } from '../objects/guard.js'
import { sleep, type Clock } from '../util/clock.js'
import type { Random } from '../util/random.js'
import { validateWrite } from '../objects/guard.js'
import { checkOptions, READ_OPTIONS, SUBSCRIBE_OPTIONS, UPDATE_OPTIONS, WRITE_OPTIONS } from './options.js'
import { toWireChange } from '../replication/log.js'
import { compactPatches } from '../objects/compact.js'
import type { Change, Path, StorePatch } from '../objects/objects.js'
import { answerTimeout, type ReadResult, type WriteAck } from './store-engine.js'
import type { ChangeEvent, WatchPattern } from './watch.js'
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

/** A read or write as the store sends it (the body of the store engine's `read` / `write`). */
export type StoreCall = { method: 'read'; body: { vs: VirtualServerId; key: string; path: Path; local: boolean } } | { method: 'write'; body: { vs: VirtualServerId; key: string; change: unknown; ifVersion: number | undefined }; change: Change }

/** What a Store stands on: where a key's calls go, and how they get there. */
export interface StoreBackend {
  readonly writeTimeoutMs: number
  readonly limits: Limits
  /** The key's primary in the view this node holds; NoPrimaryError when there is none. */
  primaryOf(vs: VirtualServerId, key: string): NodeId
  /** Runs the call on this node when it answers it itself (it is the primary, or a local read it can serve); else undefined. */
  here(primary: NodeId, call: StoreCall): Promise<unknown> | undefined
  /** Sends the call toward `primary` (over a link to it, or through a member that relays it). */
  send(primary: NodeId, call: StoreCall, timeoutMs: number): Promise<unknown>
  /** The application started a call: what it sends need not wait for other traffic. */
  expedite(): void
  /** The key's committed value on this node, when this node leads its domain (no transfer for `update`). */
  readCommittedHere(vs: VirtualServerId, key: string): Versioned<unknown> | undefined
  /** Committed changes (`from: 'primary'`) or this node's own copy (`'local'`) of keys matching `pattern`. */
  watch(pattern: WatchPattern, listener: (e: ChangeEvent) => void, from: 'primary' | 'local'): () => void
}

/**
 * Whether to send a request again after `err`, while placement settles. Errors whose class says a
 * retry is safe (`retry` 'safe': not the primary, none yet, not ready, no route) prove the request
 * was not applied. A request that never left this node because its link dropped first
 * (NotConnectedError, `neverSent`) joins them; a read, which changes nothing, goes again also
 * when the link to the primary dropped under it.
 */
const sendAgain = (err: unknown, write: boolean): boolean =>
  retryOf(err) === 'safe' || (err instanceof NotConnectedError && (!write || neverSent(err)))
/** The longest wait before the first retry of a conflicting update, and the most it doubles to. */
const CAS_BACKOFF_MS = { first: 4, cap: 250 }
/** Waits between attempts (the last one repeats): a view may be settling, or a link to the primary still coming up. */
const BACKOFF_MS = [0, 50, 100, 200, 400, 800]

/**
 * What the error of a write sent to a remote primary means for the caller. The primary's own
 * answers (remote errors) say it themselves. This node's errors are about the request: one that
 * never left is safe to send again; one that left (or may have) and then lost its link or its
 * answer is of unknown outcome.
 */
function classifyRequestError(err: unknown, what: string): unknown {
  if (!(err instanceof DomainMeshError) || isRemote(err)) return err
  if (neverSent(err) || err instanceof NoRouteError) return err
  if (err.code === 'NOT_CONNECTED' || err.code === 'TIMEOUT' || err.code === 'CLOSED') return new OutcomeUnknownError(what, err)
  return err
}

export class Store {
  constructor(
    readonly virtualServerId: VirtualServerId,
    private readonly backend: StoreBackend,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  put(key: string, value: unknown, opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write('put', opts, key, { kind: 'put', value })
  }

  patch(key: string, patches: StorePatch[], opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write('patch', opts, key, { kind: 'patch', patches })
  }

  delete(key: string, opts: WriteOptions = {}): Promise<WriteAck> {
    return this.write('delete', opts, key, { kind: 'delete' })
  }

  /**
   * Runs `recipe` on the current value and sends its patches, guarded by a compare-and-set on
   * what they touch. Resolves undefined if nothing changed. On a conflict (another write touched
   * the same sub-elements first) it runs the recipe again on fresh data after a random wait that
   * doubles with each conflict (full jitter, CAS_BACKOFF_MS), until it lands, `retries`
   * conflicts have happened (default: no limit), or the wait would end past `writeTimeoutMs`
   * after the call; then it throws the last CasConflictError.
   */
  async update<T>(key: string, recipe: (draft: Draft<T>) => void, opts: { retries?: number } = {}): Promise<WriteAck | undefined> {
    checkOptions('update', opts, UPDATE_OPTIONS)
    // Immer's own complaint would be a bare Error, and only after a read.
    if (typeof recipe !== 'function') throw new InvalidOptionError('update recipe', recipe, 'a function')
    const retries = opts.retries ?? Number.POSITIVE_INFINITY
    const deadline = this.clock.now() + this.backend.writeTimeoutMs
    for (let attempt = 0; ; attempt++) {
      // The base is committed data: this node's own copy when it leads the domain (no transfer),
      // else a primary read. A backup's copy, or the primary's uncommitted state, may hold a
      // version that never commits and is given to another write by the next primary.
      const here = attempt === 0 ? this.backend.readCommittedHere(this.virtualServerId, key) : undefined
      const base = here ? { value: here.value as T, version: here.version } : await this.getVersioned<T>(key)
      if (!base) throw new KeyNotFoundError(key)
      const [next, patches] = produceWithPatches(base.value, recipe)
      if (patches.length === 0) return undefined
      try {
        return await this.patch(key, compactPatches(base.value, next, patches), { ifVersion: base.version })
      } catch (err) {
        if ((err as DomainMeshError).code !== 'CAS_CONFLICT' || attempt >= retries) throw err
        // Contenders that all retry at once conflict again: spread them out, more widely the
        // more often this one lost.
        const wait = this.random() * Math.min(CAS_BACKOFF_MS.cap, CAS_BACKOFF_MS.first * 2 ** attempt)
        if (this.clock.now() + wait > deadline) throw err
        await sleep(this.clock, wait)
      }
    }
  }

  async get<T = unknown>(key: string, opts: ReadOptions = {}): Promise<T | undefined> {
    return (await this.getVersioned<T>(key, opts))?.value
  }

  async getVersioned<T = unknown>(key: string, opts: ReadOptions = {}): Promise<Versioned<T> | undefined> {
    checkOptions('get', opts, READ_OPTIONS)
    const local = opts.from === 'local'
    const path = opts.path ?? []
    const r = (await this.route(key, { method: 'read', body: { vs: this.virtualServerId, key, path, local } })) as ReadResult
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
    checkOptions('subscribe', opts, SUBSCRIBE_OPTIONS)
    return this.backend.watch(pattern, listener, opts.from ?? 'primary')
  }

  /**
   * Not async, nor are put, patch and delete: a writer that does not wait has thousands of writes
   * in flight, and each async layer kept a generator and a promise of its own for every one of
   * them (in a fresh burst's allocation profile, patch's and route's were 1 KB per write each). A
   * bad argument still comes back as a rejection, never a throw.
   */
  private write(op: string, opts: WriteOptions, key: string, change: Change): Promise<WriteAck> {
    try {
      checkOptions(op, opts, WRITE_OPTIONS)
      // Checked here too: the codec would quietly turn a Map into an object or drop a function.
      validateWrite(key, change, this.backend.limits)
      return this.route(key, { method: 'write', body: { vs: this.virtualServerId, key, change: toWireChange(change), ifVersion: opts.ifVersion }, change }) as Promise<WriteAck>
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Sends to the key's primary (locally when `local` handles it), sending again what is safe to
   * send again (`sendAgain`) while placement settles, until
   * `writeTimeoutMs` after the call: the caller sees one slower call, not the failover.
   * A chain of promises rather than an async loop: a generator held for every call in flight
   * (a kilobyte each, with the loop's state) was copied by every scavenge of a burst.
   */
  private route(key: string, call: StoreCall): Promise<unknown> {
    this.backend.expedite()
    return this.attempt(key, call, 0, this.clock.now() + this.backend.writeTimeoutMs)
  }

  private attempt(key: string, call: StoreCall, attempt: number, deadline: number): Promise<unknown> {
    const write = call.method === 'write'
    let answer: Promise<unknown>
    /** The primary a write was sent to: its request's errors say what became of the write. */
    let sentTo: NodeId | undefined
    try {
      const primary = this.backend.primaryOf(this.virtualServerId, key)
      const here = this.backend.here(primary, call)
      if (here) answer = here
      else {
        answer = this.backend.send(primary, call, answerTimeout(this.backend.writeTimeoutMs))
        if (write) sentTo = primary
      }
    } catch (caught) {
      answer = Promise.reject(caught)
    }
    return answer.catch((failed: unknown) => {
      const caught = sentTo === undefined ? failed : classifyRequestError(failed, `write of "${key}" sent to ${sentTo}`)
      // The primary's OutcomeUnknownError (here or forwarded) becomes ours: one class for the case.
      const err = write && isRemote(caught) && (caught as DomainMeshError).code === 'OUTCOME_UNKNOWN' ? new OutcomeUnknownError(`write of "${key}"`, caught) : caught
      const again = sendAgain(err, write)
      const wait = BACKOFF_MS[Math.min(attempt + 1, BACKOFF_MS.length - 1)]!
      if (!again || this.clock.now() + wait > deadline) throw err
      return sleep(this.clock, wait).then(() => this.attempt(key, call, attempt + 1, deadline))
    })
  }
}
