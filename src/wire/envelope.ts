/**
 * The wire protocol, version 3. A frame carries every envelope to one peer in one tick:
 *
 *   [3, addresses, ...envelopes]
 *
 * `addresses` lists each address the frame uses once, as a string (relative to the link where it
 * can be: see LinkEnds in codec.ts); envelopes name them by index
 * (version 1 spelled both addresses out in every envelope: a third of a small message's bytes;
 * version 2 carried a snapshot's objects as [id, { value, version, base, paths? }] pairs, version 3
 * as flat records: see state/object-record.ts).
 * An envelope is a tuple whose first item says what it is:
 *   [0, from, to, id, method, body]  req — a request that expects a res or err with the same id
 *   [1, from, to, id, body]          res — a successful response
 *   [2, from, to, id, error]         err — a failed response carrying a named error
 *   [3, from, to, method, body]      msg — a one-way message (replication streams, their acks)
 *   [4, from, to, method, bodies]    msgs — one-way messages with the same ends and method, in order
 * Bodies are validated again by the engine method that receives them (see routing/methods.ts).
 */
import * as v from '../util/schema.js'
import type { WireError } from '../errors.js'
import { parseAddress, type Address } from '../routing/address.js'
import { isInteger } from './fast-path.js'

export const PROTOCOL_VERSION = 3 as const
export const MAX_ENVELOPES_PER_FRAME = 10_000
/** Distinct addresses in one frame: two per envelope at most, and far fewer in practice. */
export const MAX_ADDRESSES_PER_FRAME = 1024

export const KIND = { req: 0, res: 1, err: 2, msg: 3, msgs: 4 } as const
export const KIND_NAMES = ['req', 'res', 'err', 'msg', 'msgs'] as const

export const AddressSchema = v.pipe(
  v.string(),
  v.maxLength(512),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return parseAddress(dataset.value)
    } catch (err) {
      addIssue({ message: (err as Error).message })
      return NEVER
    }
  }),
)

const Id = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))
const Method = v.pipe(v.string(), v.minLength(1), v.maxLength(64))
const Ref = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_ADDRESSES_PER_FRAME - 1))

const WireErrorSchema = v.object({
  code: v.pipe(v.string(), v.maxLength(64)),
  name: v.pipe(v.string(), v.maxLength(128)),
  message: v.pipe(v.string(), v.maxLength(4096)),
  details: v.optional(v.record(v.string(), v.unknown())),
})

/** One schema per envelope kind, indexed by the kind number. */
export const TUPLE_SCHEMAS = [
  v.strictTuple([v.literal(KIND.req), Ref, Ref, Id, Method, v.unknown()]),
  v.strictTuple([v.literal(KIND.res), Ref, Ref, Id, v.unknown()]),
  v.strictTuple([v.literal(KIND.err), Ref, Ref, Id, WireErrorSchema]),
  v.strictTuple([v.literal(KIND.msg), Ref, Ref, Method, v.unknown()]),
  v.strictTuple([v.literal(KIND.msgs), Ref, Ref, Method, v.pipe(v.array(v.unknown()), v.minLength(1), v.maxLength(MAX_ENVELOPES_PER_FRAME))]),
] as const

const isRef = (x: unknown): boolean => isInteger(x, 0, MAX_ADDRESSES_PER_FRAME - 1)
const isId = (x: unknown): boolean => isInteger(x, 0, Number.MAX_SAFE_INTEGER)
const isMethod = (x: unknown): boolean => typeof x === 'string' && x.length >= 1 && x.length <= 64

/**
 * The envelope tuples that carry the traffic (req, res, msg, msgs), checked by hand in front of
 * TUPLE_SCHEMAS (fast-path.ts); an `err`, or anything not exactly in shape, goes to the schema.
 * At low load the schema library's checks (valibot's, then) of the frame were most of a frame's decode time.
 */
export function acceptEnvelope(item: unknown): readonly unknown[] | undefined {
  if (!Array.isArray(item) || !isRef(item[1]) || !isRef(item[2])) return undefined
  switch (item[0]) {
    case KIND.req:
      return item.length === 6 && isId(item[3]) && isMethod(item[4]) ? item : undefined
    case KIND.res:
      return item.length === 5 && isId(item[3]) ? item : undefined
    case KIND.msg:
      return item.length === 5 && isMethod(item[3]) ? item : undefined
    case KIND.msgs: {
      const bodies: unknown = item[4]
      return item.length === 5 && isMethod(item[3]) && Array.isArray(bodies) && bodies.length >= 1 && bodies.length <= MAX_ENVELOPES_PER_FRAME ? item : undefined
    }
    default:
      return undefined
  }
}

export const FrameHeadSchema = v.pipe(
  v.array(v.unknown()),
  v.minLength(3, 'a frame is [version, addresses, ...envelopes] with at least one envelope'),
  v.maxLength(MAX_ENVELOPES_PER_FRAME + 2),
)
export const AddressesSchema = v.pipe(v.array(AddressSchema), v.minLength(1), v.maxLength(MAX_ADDRESSES_PER_FRAME))

interface Base {
  from: Address
  to: Address
}
export type RequestEnvelope = Base & { t: 'req'; id: number; m: string; b: unknown }
export type ResponseEnvelope = Base & { t: 'res'; id: number; b: unknown }
export type ErrorEnvelope = Base & { t: 'err'; id: number; e: WireError }
export type MessageEnvelope = Base & { t: 'msg'; m: string; b: unknown }
export type MessagesEnvelope = Base & { t: 'msgs'; m: string; bs: unknown[] }
export type Envelope = RequestEnvelope | ResponseEnvelope | ErrorEnvelope | MessageEnvelope | MessagesEnvelope
