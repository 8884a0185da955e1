/**
 * The one place that turns envelopes into bytes and back. msgpackr was measured against JSON on
 * the replication message shape (bench/codec.ts): it encodes and decodes faster and the frames are
 * smaller, so it is the codec. Records (msgpackr's shared-structure extension) are off: every frame
 * must decode on its own, and decoding state shared with an untrusted peer is an attack surface.
 * msgpackr renames `__proto__` keys on decode, so a frame cannot pollute a prototype.
 */
import { Packr } from 'msgpackr'
import * as v from 'valibot'
import { formatAddress } from '../routing/address.js'
import { EnvelopeSchema, FrameSchema, PROTOCOL_VERSION, type Envelope } from './envelope.js'

export const MAX_FRAME_BYTES = 16 * 1024 * 1024

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })

export type DecodeResult = { ok: true; envelopes: Envelope[] } | { ok: false; reason: string }

export function encodeFrame(envelopes: readonly Envelope[]): Uint8Array {
  return packr.pack(envelopes.map(toWire))
}

function toWire(e: Envelope): Record<string, unknown> {
  return { ...e, v: PROTOCOL_VERSION, from: formatAddress(e.from), to: formatAddress(e.to) }
}

export function decodeFrame(bytes: Uint8Array): DecodeResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'frame is not bytes' }
  if (bytes.byteLength === 0) return { ok: false, reason: 'empty frame' }
  if (bytes.byteLength > MAX_FRAME_BYTES) return { ok: false, reason: `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}` }
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    return { ok: false, reason: `undecodable: ${(err as Error).message}` }
  }
  const frame = v.safeParse(FrameSchema, raw)
  if (!frame.success) return { ok: false, reason: `not a frame: ${describe(frame.issues)}` }
  const envelopes: Envelope[] = []
  for (const [i, item] of frame.output.entries()) {
    const parsed = v.safeParse(EnvelopeSchema, item)
    if (!parsed.success) return { ok: false, reason: `envelope ${i}: ${describe(parsed.issues)}` }
    const { v: _version, ...envelope } = parsed.output
    envelopes.push(envelope as Envelope)
  }
  return { ok: true, envelopes }
}

function describe(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0]
  if (!first) return 'invalid'
  const path = first.path?.map((p) => String(p.key)).join('.') ?? ''
  return path ? `${path}: ${first.message}` : first.message
}

/** Raw msgpack encoding of one value, for storage records (no envelope). */
export const encodeValue = (value: unknown): Uint8Array => packr.pack(value)
export const decodeValue = (bytes: Uint8Array): unknown => packr.unpack(bytes)
