/**
 * The one place that turns envelopes into bytes and back. msgpack was measured against JSON on
 * the replication message shape: it encodes and decodes faster and the frames are smaller.
 * Records (msgpack.ts) are on in frames, but never shared: each frame defines the object shapes
 * it uses inline, so a batch of like messages (appends, acks, writes) spells its keys once, and
 * every frame still decodes on its own; no decoding state outlives a frame, so one peer's frame
 * cannot change how another's is read. The decoder renames `__proto__` keys (plain maps and
 * records alike), so a frame cannot pollute a prototype.
 */
import * as v from '../util/schema.js'
import { formatAddress, isExact, type Address } from '../routing/address.js'
import { AddressCache } from './address-cache.js'
import { createEncoder, decode } from './msgpack.js'
import { acceptEnvelope, AddressesSchema, FrameHeadSchema, KIND, KIND_NAMES, MAX_ADDRESSES_PER_FRAME, MAX_ENVELOPES_PER_FRAME, PROTOCOL_VERSION, TUPLE_SCHEMAS, type Envelope } from './envelope.js'

export const MAX_FRAME_BYTES = 16 * 1024 * 1024

/**
 * One encoder for the process, frames and stored values alike: its output buffer is reused from
 * one call to the next (see `releaseEncoderBuffer`), which is the point of sharing it.
 */
const encoder = createEncoder()

export type DecodeResult = { ok: true; envelopes: Envelope[] } | { ok: false; reason: string }

/**
 * The two ends of the link a frame travels on. With it, an address on either end is written
 * relative to the link: `~engine` is on the sending node, `.engine` on the receiving one (each may
 * end in `@virtualServer`), so node and cluster ids are not spelled out in every frame.
 */
export interface LinkEnds {
  clusterId: string
  /** The node that encodes (sends) the frame, or decodes (receives) it. */
  self: string
  peer: string
}

/** Each address object is formatted once (engines reuse theirs for every message). */
const formatted = new WeakMap<Address, string>()
function format(a: Address): string {
  let s = formatted.get(a)
  if (s === undefined) formatted.set(a, (s = formatAddress(a)))
  return s
}

function relative(a: Address, link: LinkEnds | undefined): string {
  if (link && isExact(a) && a.clusterId === link.clusterId) {
    const rest = a.virtualServerId ? `${a.engineId}@${a.virtualServerId}` : a.engineId
    if (a.nodeId === link.self) return `~${rest}`
    if (a.nodeId === link.peer) return `.${rest}`
  }
  return format(a)
}

function absolute(s: unknown, link: LinkEnds | undefined): unknown {
  if (typeof s !== 'string' || !link || (s[0] !== '~' && s[0] !== '.')) return s
  return `${link.clusterId}/${s[0] === '~' ? link.peer : link.self}/${s.slice(1)}`
}

/** Encodes envelopes to one peer as one frame; at most MAX_ADDRESSES_PER_FRAME / 2 of them. */
export function encodeFrame(envelopes: readonly Envelope[], link?: LinkEnds): Uint8Array {
  const index = new Map<string, number>()
  const addresses: string[] = []
  const ref = (a: Address): number => {
    const s = relative(a, link)
    let i = index.get(s)
    if (i === undefined) {
      if (addresses.length === MAX_ADDRESSES_PER_FRAME) throw new RangeError(`a frame names at most ${MAX_ADDRESSES_PER_FRAME} addresses`)
      index.set(s, (i = addresses.length))
      addresses.push(s)
    }
    return i
  }
  const frame: unknown[] = [PROTOCOL_VERSION, addresses]
  for (const e of envelopes) {
    const from = ref(e.from)
    const to = ref(e.to)
    switch (e.t) {
      case 'req':
        frame.push([KIND.req, from, to, e.id, e.m, e.b])
        break
      case 'res':
        frame.push([KIND.res, from, to, e.id, e.b])
        break
      case 'err':
        frame.push([KIND.err, from, to, e.id, e.e])
        break
      case 'msg':
        frame.push([KIND.msg, from, to, e.m, e.b])
        break
      case 'msgs':
        frame.push([KIND.msgs, from, to, e.m, e.bs])
        break
    }
  }
  return encoder.encode(frame, true)
}

/**
 * The frame's addresses through `cache` when every one is a string the schema's length allows
 * and parses; undefined otherwise, and the schema then words what is wrong.
 */
function cachedAddresses(list: unknown, link: LinkEnds | undefined, cache: AddressCache): Address[] | undefined {
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_ADDRESSES_PER_FRAME) return undefined
  const out: Address[] = []
  for (const item of list as unknown[]) {
    const s = absolute(item, link)
    if (typeof s !== 'string' || s.length > 512) return undefined
    try {
      out.push(cache.parse(s))
    } catch {
      return undefined // not an address: the schema below says which and why
    }
  }
  return out
}

/**
 * Decodes and checks one frame. `cache` (one per receiver) keeps the addresses it parsed; without
 * one, each frame parses its own. The frame's common shapes are checked by hand first, with the
 * same limits; the schemas decide the rest and word the errors.
 */
export function decodeFrame(bytes: Uint8Array, link?: LinkEnds, cache?: AddressCache): DecodeResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'frame is not bytes' }
  if (bytes.byteLength === 0) return { ok: false, reason: 'empty frame' }
  if (bytes.byteLength > MAX_FRAME_BYTES) return { ok: false, reason: `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}` }
  let raw: unknown
  try {
    raw = decode(bytes)
  } catch (err) {
    return { ok: false, reason: `undecodable: ${(err as Error).message}` }
  }
  let items: unknown[]
  if (Array.isArray(raw) && raw.length >= 3 && raw.length <= MAX_ENVELOPES_PER_FRAME + 2) items = raw
  else {
    const head = v.safeParse(FrameHeadSchema, raw)
    if (!head.success) return { ok: false, reason: `not a frame: ${describe(head.issues)}` }
    items = head.output
  }
  if (items[0] !== PROTOCOL_VERSION) return { ok: false, reason: `protocol version ${shown(items[0])}, expected ${PROTOCOL_VERSION}` }
  let addresses = cache ? cachedAddresses(items[1], link, cache) : undefined
  if (!addresses) {
    const addrs = v.safeParse(AddressesSchema, Array.isArray(items[1]) ? items[1].map((s) => absolute(s, link)) : items[1])
    if (!addrs.success) return { ok: false, reason: `addresses: ${describe(addrs.issues)}` }
    addresses = addrs.output
  }
  const envelopes: Envelope[] = []
  for (let i = 2; i < items.length; i++) {
    const item = items[i]
    let t = acceptEnvelope(item) as v.InferOutput<(typeof TUPLE_SCHEMAS)[number]> | undefined
    if (!t) {
      const kind = Array.isArray(item) ? item[0] : undefined
      const schema = typeof kind === 'number' ? TUPLE_SCHEMAS[kind] : undefined
      if (!schema) return { ok: false, reason: `envelope ${i - 2}: not an envelope (kind ${shown(kind)})` }
      const parsed = v.safeParse(schema, item)
      if (!parsed.success) return { ok: false, reason: `envelope ${i - 2} (${KIND_NAMES[kind as number]}): ${describe(parsed.issues)}` }
      t = parsed.output
    }
    const from = addresses[t[1]]
    const to = addresses[t[2]]
    if (!from || !to) return { ok: false, reason: `envelope ${i - 2}: address index out of range (${addresses.length} addresses)` }
    switch (t[0]) {
      case KIND.req:
        envelopes.push({ t: 'req', from, to, id: t[3], m: t[4], b: t[5] })
        break
      case KIND.res:
        envelopes.push({ t: 'res', from, to, id: t[3], b: t[4] })
        break
      case KIND.err:
        envelopes.push({ t: 'err', from, to, id: t[3], e: t[4] as Extract<Envelope, { t: 'err' }>['e'] })
        break
      case KIND.msg:
        envelopes.push({ t: 'msg', from, to, m: t[3], b: t[4] })
        break
      case KIND.msgs:
        envelopes.push({ t: 'msgs', from, to, m: t[3], bs: t[4] })
        break
    }
  }
  return { ok: true, envelopes }
}

/** A peer-sent value in a message: numbers as they are, anything else by its type (it may not even turn into a string). */
const shown = (x: unknown): string => (typeof x === 'number' ? String(x) : typeof x)

function describe(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0]
  if (!first) return 'invalid'
  const path = first.path?.map((p) => String(p.key)).join('.') ?? ''
  return path ? `${path}: ${first.message}` : first.message
}

/**
 * Raw msgpack encoding of one value, for storage records (no envelope). Without records: storage
 * records are single values written once, with no record definitions to pay for, and their bytes
 * are what other modules write and find by hand (snapshot-encoder.ts, msgpack-skip.ts).
 */
export const encodeValue = (value: unknown): Uint8Array => encoder.encode(value, false)

/**
 * The encoder writes every output into one buffer, returns a view of it, and grows that buffer to
 * four times the largest output so far: one large journal record (a group commit carrying domain
 * snapshots) leaves every peer holding several times its size at rest. Starting
 * over after every large output would make each snapshot of a healing grow a new buffer step by
 * step (8 KB, 32 KB, ... 4x its size): churn of external memory, which brings V8's collections
 * forward, while the node is busiest. So the buffer is kept while the node is busy and let go
 * when it is quiet (this, called by the state's quiet sweep); true if it let one go.
 */
export const releaseEncoderBuffer = (above = 256 * 1024): boolean => encoder.release(above)

export const decodeValue = (bytes: Uint8Array): unknown => decode(bytes)
