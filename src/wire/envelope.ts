/**
 * The wire protocol, version 1. A frame is an array of envelopes (all messages to one peer in one
 * tick travel together). Envelopes are a discriminated union on `t`:
 *   req — a request that expects a `res` or `err` with the same `id`
 *   res — a successful response
 *   err — a failed response carrying a named error
 *   msg — a one-way message (replication streams use these; their acks are messages too)
 *   msgs — several one-way messages with the same sender, receiver and method, in order: the
 *          addresses and method travel once (most of a small replication message's bytes)
 * Bodies are validated again by the engine method that receives them (see routing/methods.ts).
 */
import * as v from 'valibot'
import type { WireError } from '../errors.js'
import { parseAddress, type Address } from '../routing/address.js'

export const PROTOCOL_VERSION = 1 as const
export const MAX_ENVELOPES_PER_FRAME = 10_000

const AddressSchema = v.pipe(
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
const Common = { v: v.literal(PROTOCOL_VERSION), from: AddressSchema, to: AddressSchema }

const WireErrorSchema = v.object({
  code: v.pipe(v.string(), v.maxLength(64)),
  name: v.pipe(v.string(), v.maxLength(128)),
  message: v.pipe(v.string(), v.maxLength(4096)),
  details: v.optional(v.record(v.string(), v.unknown())),
})

export const EnvelopeSchema = v.variant('t', [
  v.object({ ...Common, t: v.literal('req'), id: Id, m: Method, b: v.unknown() }),
  v.object({ ...Common, t: v.literal('res'), id: Id, b: v.unknown() }),
  v.object({ ...Common, t: v.literal('err'), id: Id, e: WireErrorSchema }),
  v.object({ ...Common, t: v.literal('msg'), m: Method, b: v.unknown() }),
  v.object({ ...Common, t: v.literal('msgs'), m: Method, bs: v.pipe(v.array(v.unknown()), v.minLength(1), v.maxLength(MAX_ENVELOPES_PER_FRAME)) }),
])

export const FrameSchema = v.pipe(v.array(v.unknown()), v.minLength(1), v.maxLength(MAX_ENVELOPES_PER_FRAME))

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
