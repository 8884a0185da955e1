/**
 * Messages between a node and the topology service (JSON over a WebSocket, or in-process).
 * Both sides validate every message with these schemas.
 */
import * as v from '../util/schema.js'
import type { ClusterSettings, View } from './view.js'

/**
 * The longest a node waits between two attempts to reach the topology service (its backoff
 * doubles up to this, jittered to 50-100 %). A restarted service gives the nodes it finds in its
 * saved state this long, plus their heartbeat allowance, to come back before it calls one down.
 */
export const RECONNECT_MAX_MS = 5000

const Id = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/))
const EngineInfoSchema = v.object({
  engineId: Id,
  engineType: Id,
  virtualServers: v.union([v.literal('*'), v.pipe(v.array(Id), v.maxLength(1000))]),
})
const Domain = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4095))

// `durable` is optional on the wire: absent means ephemeral, so older peers and services interoperate.
export const MemberSchema = v.object({
  nodeId: Id,
  status: v.picklist(['up', 'down']),
  engines: v.pipe(v.array(EngineInfoSchema), v.maxLength(64)),
  durable: v.optional(v.boolean()),
})
export const ViewSchema = v.object({
  epoch: v.pipe(v.number(), v.integer(), v.minValue(1)),
  members: v.array(MemberSchema),
  owners: v.optional(v.record(v.string(), v.array(Id))),
  waiting: v.optional(v.pipe(v.array(Domain), v.maxLength(4096))),
})
export const SettingsSchema = v.object({
  domainCount: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4096)),
  replicas: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(5)),
  pins: v.optional(v.record(v.string(), v.array(Id))),
})

export const ClientMessageSchema = v.variant('type', [
  v.object({
    type: v.literal('hello'),
    clusterId: v.pipe(v.string(), v.maxLength(128)),
    nodeId: v.pipe(v.string(), v.maxLength(128)),
    engines: v.pipe(v.array(EngineInfoSchema), v.maxLength(64)),
    durable: v.optional(v.boolean()),
    /** The last view this node saw (kept with its data): a service that lost its state rebuilds from it. */
    lastView: v.optional(ViewSchema),
    /**
     * This node's storage holds nothing (no view seen, no copy): a replaced disk or a deleted data
     * folder under an old id. Whatever the service lists it as owning is gone from it.
     */
    fresh: v.optional(v.boolean()),
    /**
     * The node key kept with this node's data (32 bytes, hex): while the id is live, only a hello
     * showing the same key takes its place (src/server/node-keys.ts). Absent from older nodes.
     */
    key: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))),
    ts: v.number(),
    nonce: v.pipe(v.string(), v.minLength(16), v.maxLength(64)),
    /** The HMAC proof of the cluster secret; or, instead, `token`: a member token (a JWT, role 'member'). */
    proof: v.optional(v.pipe(v.string(), v.length(64))),
    token: v.optional(v.pipe(v.string(), v.maxLength(8192))),
  }),
  /**
   * A client's hello (issue 34): a token from the app's auth endpoint instead of the cluster
   * secret. A client is never a member: it is in no view, holds nothing, and is signaled only to
   * and from members.
   */
  v.object({
    type: v.literal('client-hello'),
    clusterId: v.pipe(v.string(), v.maxLength(128)),
    nodeId: v.pipe(v.string(), v.maxLength(128)),
    token: v.pipe(v.string(), v.maxLength(8192)),
  }),
  /** A client's fresh token, before its current one expires. */
  v.object({ type: v.literal('token'), token: v.pipe(v.string(), v.maxLength(8192)) }),
  v.object({ type: v.literal('heartbeat') }),
  v.object({ type: v.literal('signal'), to: Id, data: v.unknown() }),
  v.object({ type: v.literal('report'), peer: Id }),
  v.object({ type: v.literal('owned'), domain: Domain, node: Id }),
  v.object({ type: v.literal('lagging'), domain: Domain, node: Id }),
  v.object({ type: v.literal('leave') }),
  /** Where each copy this node holds ends, (domain, epoch of its last entry, seq of its last entry). */
  v.object({ type: v.literal('copies'), copies: v.pipe(v.array(v.tuple([Domain, v.pipe(v.number(), v.integer(), v.minValue(0)), v.pipe(v.number(), v.integer(), v.minValue(0))])), v.maxLength(4096)) }),
  v.object({ type: v.literal('engines'), engines: v.pipe(v.array(EngineInfoSchema), v.maxLength(64)) }),
])

export const ServerMessageSchema = v.variant('type', [
  v.object({
    type: v.literal('welcome'),
    nodeId: Id,
    view: ViewSchema,
    settings: SettingsSchema,
    heartbeatMs: v.number(),
    healDelayMs: v.number(),
    /** The service answers each heartbeat with a `beat` (0.2.0 on): silence then means it hangs. */
    beats: v.optional(v.boolean()),
    /** Domains whose only listed copy was on this node's storage, which came back empty: lost until the operator accepts it. */
    lost: v.optional(v.pipe(v.array(Domain), v.maxLength(4096))),
  }),
  v.object({ type: v.literal('view'), view: ViewSchema }),
  /** The answer to a heartbeat: the service (or the instance a node is on) is alive. */
  v.object({ type: v.literal('beat') }),
  /** `client`: the sender was admitted as a client (the service says so; a client cannot). */
  v.object({ type: v.literal('signal'), from: Id, data: v.unknown(), client: v.optional(v.boolean()) }),
  v.object({ type: v.literal('refused'), reason: v.string() }),
  v.object({ type: v.literal('error'), reason: v.string() }),
])

export type ClientMessage = v.InferOutput<typeof ClientMessageSchema>
export type ServerMessage = v.InferOutput<typeof ServerMessageSchema>
export type HelloMessage = Extract<ClientMessage, { type: 'hello' }>
export type ClientHelloMessage = Extract<ClientMessage, { type: 'client-hello' }>

/** A message channel between a node and the service; either side may be in-process or a socket. */
export interface TopologyLink {
  send(msg: object): void
  close(reason?: string): void
  onMessage(handler: (msg: unknown) => void): void
  onClose(handler: (reason: string) => void): void
}

/** The schema checked every id against the id pattern, so the parsed view may carry branded ids. */
export const asView = (parsed: v.InferOutput<typeof ViewSchema>): View => parsed as unknown as View
export const asSettings = (parsed: v.InferOutput<typeof SettingsSchema>): ClusterSettings => parsed as unknown as ClusterSettings
