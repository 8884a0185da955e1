/**
 * Messages between the state managers of different nodes. They travel as one-way messages of the
 * `store` engine; their bodies are validated by these schemas before the state manager sees them.
 */
import * as v from '../util/schema.js'
import { decodeValue } from '../wire/codec.js'
import { snapshotElements } from '../wire/msgpack-skip.js'
import { acceptAll, asObject, isInteger } from '../wire/fast-path.js'
import { acceptWireEntry, WireEntrySchema } from './log.js'
import { scanSnapshot, Seq, SnapshotPath } from '../persistence/snapshot-scan.js'

const MAX_DOMAIN = 1 << 16
const Domain = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_DOMAIN))
const Epoch = Seq

/**
 * `head` is the primary's last seq: a backup behind it asks for what it lacks, even with no entries.
 * `commit` is the primary's commit point: a demoted primary learns from it which of its writes made it.
 */
/** `prev`: the epoch of the entry just before the first one (Raft's prevLogTerm), where the primary still has it. */
export const AppendSchema = v.object({ domain: Domain, epoch: Epoch, head: Seq, commit: Seq, prev: v.optional(Epoch), entries: v.pipe(v.array(WireEntrySchema), v.maxLength(100_000)) })
export const AckSchema = v.object({ domain: Domain, epoch: Epoch, upTo: Seq })

/** The fast paths of AppendSchema and AckSchema (fast-path.ts): appends and acks carry the load. */
export function acceptAppend(input: unknown): AppendMsg | undefined {
  const o = asObject(input)
  if (!o || !isInteger(o.domain, 0, MAX_DOMAIN) || !isInteger(o.epoch, 0) || !isInteger(o.head, 0) || !isInteger(o.commit, 0)) return undefined
  if (o.prev !== undefined && !isInteger(o.prev, 0)) return undefined
  const entries = acceptAll(o.entries, acceptWireEntry, 100_000)
  return entries && { domain: o.domain, epoch: o.epoch, head: o.head, commit: o.commit, ...(o.prev !== undefined ? { prev: o.prev } : {}), entries }
}

export function acceptAck(input: unknown): AckMsg | undefined {
  const o = asObject(input)
  if (!o || !isInteger(o.domain, 0, MAX_DOMAIN) || !isInteger(o.epoch, 0) || !isInteger(o.upTo, 0)) return undefined
  return { domain: o.domain, epoch: o.epoch, upTo: o.upTo }
}
/** Asks for the entries after `after`; `afterEpoch` lets the primary check that the logs agree up to there. */
export const ResendSchema = v.object({ domain: Domain, epoch: Epoch, after: Seq, afterEpoch: Epoch, snapshot: v.optional(v.boolean()) })
export const NackSchema = v.object({ domain: Domain, epoch: Epoch })
const SnapshotObject = v.object({ value: v.unknown(), version: Seq, base: Seq, paths: v.optional(v.array(SnapshotPath)) })
/** A record (object-record.ts), or the pair form of snapshots stored before protocol 3. Strict: the forms differ by length. */
const SnapshotElement = v.union(
  [
    v.strictTuple([v.string(), v.unknown(), Seq, Seq]),
    v.strictTuple([v.string(), v.unknown(), Seq, Seq, v.array(SnapshotPath)]),
    v.strictTuple([v.string(), SnapshotObject]),
  ],
  'an object of a snapshot must be [id, value, version, base, paths?] (or the older [id, { value, version, base, paths? }])',
)
const SnapshotBody = v.object({ seq: Seq, epoch: Epoch, objects: v.array(SnapshotElement) })
/**
 * A domain snapshot travels encoded, as one byte string: the sender has encoded it once anyway
 * (to report its size), and a frame then copies it rather than encoding thousands of objects again.
 */
export const SnapshotSchema = v.object({
  domain: Domain,
  epoch: Epoch,
  snapshot: v.pipe(
    v.instance(Uint8Array),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      // Checked without decoding the objects when it can be (snapshot-scan.ts).
      const scanned = scanSnapshot(dataset.value)
      if (scanned) return scanned
      let decoded: unknown
      try {
        decoded = decodeValue(dataset.value)
      } catch (err) {
        addIssue({ message: `undecodable snapshot: ${(err as Error).message}` })
        return NEVER
      }
      const parsed = v.safeParse(SnapshotBody, decoded)
      if (parsed.success) return { ...parsed.output, records: snapshotElements(dataset.value) }
      addIssue({ message: `not a snapshot: ${parsed.issues[0]?.message ?? 'invalid'}` })
      return NEVER
    }),
  ),
  /** [index, count] of a snapshot sent in parts (snapshot-assembly.ts); absent: the whole snapshot. */
  part: v.optional(v.pipe(v.tuple([Seq, v.pipe(Seq, v.minValue(1), v.maxValue(100_000))]), v.check(([i, n]) => i < n, 'snapshot part index must be below the part count'))),
})
/** A new primary asks a survivor for what it has beyond `after` (checked against `afterEpoch`). */
export const FetchSchema = v.object({ domain: Domain, epoch: Epoch, after: Seq, afterEpoch: Epoch })

/** A primary asks another owner, before it answers a read, whether it knows of a newer primary (lead-check.ts). */
export const LeadSchema = v.object({ domain: Domain, epoch: Epoch })
export interface LeadAnswer {
  /** The newest epoch the owner knows for the domain. */
  epoch: number
  /** The primary that epoch names, if any. */
  primary?: string
}

export type LeadMsg = v.InferOutput<typeof LeadSchema>
export type AppendMsg = v.InferOutput<typeof AppendSchema>
export type AckMsg = v.InferOutput<typeof AckSchema>
export type ResendMsg = v.InferOutput<typeof ResendSchema>
export type NackMsg = v.InferOutput<typeof NackSchema>
export type FetchMsg = v.InferOutput<typeof FetchSchema>

export type ReplMessage =
  | ({ type: 'append' } & AppendMsg)
  | ({ type: 'ack' } & AckMsg)
  | ({ type: 'resend' } & ResendMsg)
  | ({ type: 'nack' } & NackMsg)
  | ({ type: 'snapshot' } & v.InferOutput<typeof SnapshotSchema>)

/** What a replica sends: a snapshot leaves encoded (see SnapshotSchema), everything else as received. */
export type OutgoingReplMessage = Exclude<ReplMessage, { type: 'snapshot' }> | { type: 'snapshot'; domain: number; epoch: number; snapshot: Uint8Array; part?: [number, number] }
