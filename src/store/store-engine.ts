/**
 * The `store` engine: the network face of the state manager. It validates every body with its
 * method's schema, runs writes and reads on the primary (forwarding once if the caller's view was
 * behind ours), carries replication messages, and tells watchers about committed changes.
 */
import * as v from '../util/schema.js'
import { NoRouteError, OutcomeUnknownError, isRemote, neverSent, type DomainMeshError, NotPrimaryError, PathNotFoundError } from '../errors.js'
import { engineType, virtualServerId, type NodeId, type VirtualServerId } from '../ids.js'
import type { Engine, Request } from '../routing/engine.js'
import { method, methodTable } from '../routing/methods.js'
import type { Clock } from '../util/clock.js'
import { Histogram, WRITE_LATENCY_BUCKETS_MS } from '../util/histogram.js'
import { asObject, isInteger } from '../wire/fast-path.js'
import { acceptWireChange, WireChangeSchema, WireEntrySchema, toWireChange, toWireEntry, type LogEntry } from '../replication/log.js'
import { acceptAck, acceptAppend, AckSchema, AppendSchema, FetchSchema, LeadSchema, NackSchema, ResendSchema, SnapshotSchema, type ReplMessage } from '../replication/messages.js'
import { canonicalPath, versionAt, type Change, type Path } from '../objects/objects.js'
import { STORE_ENGINE_ID, type MessengerStatePort } from './port.js'
import type { StateEvents, StateManager } from '../replication/state-manager.js'
import { WatchRegistry, type ChangeEvent, type WatchPattern } from './watch.js'

export { STORE_ENGINE_ID }
export const STORE_ENGINE_TYPE = engineType('store')
export const STORE_ENGINE_INFO = { engineId: STORE_ENGINE_ID, engineType: STORE_ENGINE_TYPE, virtualServers: '*' as const }
const MAX_HOPS = 2

/**
 * How long a node waits for a remote primary's answer to a write or read: longer than the primary
 * lets either wait (for its backups, a failover sync, a healing lock), so that one stuck there
 * comes back with the primary's own TimeoutError, which says what it waited for and where its
 * replica stood, not only that the request went unanswered.
 */
export const answerTimeout = (writeTimeoutMs: number): number => writeTimeoutMs + 2000

const Key = v.pipe(v.string(), v.minLength(1), v.maxLength(4096))
const Vs = v.pipe(v.string(), v.minLength(1), v.maxLength(128))
const PathSchema = v.pipe(v.array(v.union([v.string(), v.number()])), v.maxLength(64))
export const WriteSchema = v.object({ vs: Vs, key: Key, change: WireChangeSchema, ifVersion: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))), hops: v.optional(v.number()) })
const ReadSchema = v.object({ vs: Vs, key: Key, path: v.optional(PathSchema), local: v.optional(v.boolean()), hops: v.optional(v.number()) })
export const ReplSchema = v.variant('type', [
  v.object({ type: v.literal('append'), ...AppendSchema.entries }),
  v.object({ type: v.literal('ack'), ...AckSchema.entries }),
  v.object({ type: v.literal('nack'), ...NackSchema.entries }),
  v.object({ type: v.literal('resend'), ...ResendSchema.entries }),
  v.object({ type: v.literal('snapshot'), ...SnapshotSchema.entries }),
])

/** The fast path of WriteSchema (fast-path.ts). */
export function acceptWrite(input: unknown): v.InferOutput<typeof WriteSchema> | undefined {
  const o = asObject(input)
  if (!o || !isString(o.vs, 128) || !isString(o.key, 4096)) return undefined
  const change = acceptWireChange(o.change)
  if (!change) return undefined
  const out: v.InferOutput<typeof WriteSchema> = { vs: o.vs, key: o.key, change }
  // Present even when undefined, as the schema's output has them.
  if ('ifVersion' in o) {
    if (o.ifVersion !== undefined && !isInteger(o.ifVersion, 0)) return undefined
    out.ifVersion = o.ifVersion
  }
  if ('hops' in o) {
    if (o.hops !== undefined && (typeof o.hops !== 'number' || Number.isNaN(o.hops))) return undefined
    out.hops = o.hops
  }
  return out
}

const isString = (x: unknown, maxLength: number): x is string => typeof x === 'string' && x.length >= 1 && x.length <= maxLength

/** The fast path of ReplSchema for the messages that carry the load: appends and acks. */
export function acceptRepl(input: unknown): v.InferOutput<typeof ReplSchema> | undefined {
  const type = asObject(input)?.type
  if (type === 'append') {
    const a = acceptAppend(input)
    return a && { type, ...a }
  }
  if (type === 'ack') {
    const a = acceptAck(input)
    return a && { type, ...a }
  }
  return undefined
}

const WatchPatternSchema = v.object({ vs: Vs, key: v.optional(Key), prefix: v.optional(v.string()) })
const WatchSchema = v.object({ patterns: v.pipe(v.array(WatchPatternSchema), v.maxLength(1000)) })
const ChangedSchema = v.object({ domain: v.number(), entries: v.array(WireEntrySchema) })

export interface ReadResult {
  found: boolean
  value?: unknown
  version: number
}

export interface WriteAck {
  seq: number
  /** The version the written sub-element has now (equal to seq). */
  version: number
  replicas: number
}

export class StoreEngine implements Engine {
  readonly engineId = STORE_ENGINE_ID
  readonly engineType = STORE_ENGINE_TYPE
  readonly virtualServers = '*' as const
  readonly watches = new WatchRegistry()
  /** Writes this node committed as primary, in ms (metrics: domainmesh_write_duration_seconds). */
  readonly writeLatency = new Histogram(WRITE_LATENCY_BUCKETS_MS)
  readonly handle: (req: Request) => unknown

  constructor(
    private readonly self: NodeId,
    private readonly port: MessengerStatePort,
    private readonly state: StateManager,
    /** What `status` answers: this node's links and healing, for a page that draws the whole cluster. */
    private readonly status: () => unknown = () => ({}),
    /** Times the writes this node commits as primary (`writeLatency`); without it they are not timed. */
    private readonly clock?: Clock,
  ) {
    this.handle = methodTable({
      write: method(WriteSchema, (b, req) => this.write(virtualServerId(b.vs), b.key, b.change as Change, b.ifVersion, b.hops ?? 0, req.fromNode), acceptWrite),
      read: method(ReadSchema, (b) => this.read(virtualServerId(b.vs), b.key, b.path ?? [], b.local ?? false, b.hops ?? 0)),
      repl: method(ReplSchema, (b, req) => this.state.receive(req.fromNode, b as ReplMessage), acceptRepl),
      fetch: method(FetchSchema, (b, req) => this.state.handleFetch(req.fromNode, b)),
      lead: method(LeadSchema, (b) => this.state.handleLead(b)),
      watch: method(WatchSchema, (b, req) => this.watches.setRemote(req.fromNode, b.patterns)),
      changed: method(ChangedSchema, (b) => this.deliver(b.domain, b.entries as LogEntry[])),
      ping: method(v.object({}), () => ({})),
      status: method(v.object({}), () => this.status()),
    })
    state.events.on('committed', ({ domain, entries }) => this.publish(domain, entries))
    this.onApplied = ({ domain, entry: e }) => this.watches.deliverApplied({ domain, seq: e.seq, vs: e.vs, key: e.key, change: e.change })
  }

  private readonly onApplied: (e: StateEvents['applied']) => void
  private offApplied: (() => void) | undefined

  /** Follows this node's own copy for `from: 'local'` subscribers, only while there are any. */
  watchCopy(pattern: WatchPattern, listener: (e: ChangeEvent) => void): () => void {
    const off = this.watches.addLocal(pattern, listener, 'copy')
    this.offApplied ??= this.state.events.on('applied', this.onApplied)
    return () => {
      off()
      if (!this.watches.hasCopy()) {
        this.offApplied?.()
        this.offApplied = undefined
      }
    }
  }

  /** `from`: the node that sent the write (it waits for the answer, not for its own copy). */
  write(vs: VirtualServerId, key: string, change: Change, ifVersion: number | undefined, hops: number, from?: NodeId): Promise<WriteAck> {
    // Promises, not an async function: its generator lived for every write in flight until the
    // commit, and a burst's scavenges copied them all (store.ts's route says the same).
    const t0 = this.clock?.now()
    return this.state.write(vs, key, change, ifVersion, from).then(
      (r) => {
        // From the moment this primary took the write to its acknowledgement (backups included).
        if (t0 !== undefined) this.writeLatency.observe(this.clock!.now() - t0)
        return { seq: r.seq, version: r.seq, replicas: r.replicas }
      },
      (err: unknown) => {
        const primary = this.forwardTarget(err, hops)
        if (!primary) throw err
        return this.forward(primary, 'write', { vs, key, change: toWireChange(change), ifVersion, hops: hops + 1 }, vs, err as NotPrimaryError) as Promise<WriteAck>
      },
    )
  }

  async read(vs: VirtualServerId, key: string, path: Path, local: boolean, hops: number): Promise<ReadResult> {
    let obj
    if (local && this.state.readLocal(vs, key).held) obj = this.state.readLocal(vs, key).obj
    else {
      try {
        obj = await this.state.read(vs, key)
      } catch (err) {
        const primary = this.forwardTarget(err, hops)
        if (!primary) throw err
        return (await this.forward(primary, 'read', { vs, key, path, local, hops: hops + 1 }, vs, err as NotPrimaryError)) as ReadResult
      }
    }
    if (!obj) return { found: false, version: 0 }
    let value: unknown = obj.value
    for (const seg of path) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, seg)) throw new PathNotFoundError(key, path)
      value = (value as Record<string | number, unknown>)[seg]
    }
    return { found: true, value, version: versionAt(obj, canonicalPath(path)) }
  }

  /** Re-announces our watch patterns (on a new subscription, and to peers that come up). */
  announceWatches(peers: readonly NodeId[]): void {
    const patterns = this.watches.localPatterns()
    for (const p of peers) this.port.notify(p, 'watch', { patterns })
  }

  /**
   * Announces our watch patterns and resolves once every peer has them (or could not be asked, or
   * did not answer within `timeoutMs`): a client's subscription held here is answered only then,
   * so the client's next write, to whichever primary, is heard.
   */
  async announceWatchesConfirmed(peers: readonly NodeId[], timeoutMs = 2000): Promise<void> {
    const patterns = this.watches.localPatterns()
    await Promise.allSettled(peers.map((p) => this.port.request(p, 'watch', { patterns }, undefined, timeoutMs)))
  }

  private publish(domain: number, entries: readonly LogEntry[]): void {
    const byNode = new Map<NodeId, typeof entries[number][]>()
    for (const e of entries) for (const n of this.watches.watchersOf(e.vs, e.key)) {
      if (!byNode.has(n)) byNode.set(n, [])
      byNode.get(n)!.push(e)
    }
    for (const [n, list] of byNode) this.port.notify(n, 'changed', { domain, entries: list.map(toWireEntry) })
    if (this.watches.hasLocal()) this.deliver(domain, entries)
  }

  private deliver(domain: number, entries: readonly { seq: number; vs: string; key: string; change: Change }[]): void {
    for (const e of entries) this.watches.deliver({ domain, seq: e.seq, vs: e.vs, key: e.key, change: e.change })
  }

  /**
   * Sends a request on to the primary our view names. The primary's answer, error or not, goes
   * back as it is. A forward that never left this node changed nothing: the caller gets our
   * NotPrimaryError (`refused`) and sends it again itself. A write that left and then lost its
   * link or its answer is of unknown outcome, and says so.
   */
  private async forward(primary: NodeId, method: 'write' | 'read', body: unknown, vs: VirtualServerId, refused: NotPrimaryError): Promise<unknown> {
    try {
      return await this.port.request(primary, method, body, vs, answerTimeout(this.state.writeTimeoutMs))
    } catch (err) {
      if (isRemote(err)) throw err
      if (err instanceof NoRouteError || neverSent(err)) throw refused
      if (method === 'write' && (err as DomainMeshError).code !== 'OUTCOME_UNKNOWN') throw new OutcomeUnknownError(`write forwarded to the primary ${primary}`, err)
      throw err
    }
  }

  private forwardTarget(err: unknown, hops: number): NodeId | undefined {
    if (!(err instanceof NotPrimaryError) || hops >= MAX_HOPS) return undefined
    const primary = err.details.primary as NodeId | undefined
    return primary && primary !== this.self ? primary : undefined
  }

}
