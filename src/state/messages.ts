/**
 * Messages between the state managers of different nodes. They travel as one-way messages of the
 * `store` engine; their bodies are validated by these schemas before the state manager sees them.
 */
import * as v from 'valibot'
import { WireEntrySchema } from './log.js'

const Domain = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 16))
const Seq = v.pipe(v.number(), v.integer(), v.minValue(0))
const Epoch = Seq

/**
 * `head` is the primary's last seq: a backup behind it asks for what it lacks, even with no entries.
 * `commit` is the primary's commit point: a demoted primary learns from it which of its writes made it.
 */
export const AppendSchema = v.object({ domain: Domain, epoch: Epoch, head: Seq, commit: Seq, entries: v.pipe(v.array(WireEntrySchema), v.maxLength(100_000)) })
export const AckSchema = v.object({ domain: Domain, epoch: Epoch, upTo: Seq })
/** Asks for the entries after `after`; `afterEpoch` lets the primary check that the logs agree up to there. */
export const ResendSchema = v.object({ domain: Domain, epoch: Epoch, after: Seq, afterEpoch: Epoch, snapshot: v.optional(v.boolean()) })
export const NackSchema = v.object({ domain: Domain, epoch: Epoch })
export const SnapshotSchema = v.object({
  domain: Domain,
  epoch: Epoch,
  snapshot: v.object({ seq: Seq, epoch: Epoch, objects: v.array(v.tuple([v.string(), v.looseObject({ value: v.unknown(), version: Seq, base: Seq })])) }),
})
/** A new primary asks a survivor for what it has beyond `after` (checked against `afterEpoch`). */
export const FetchSchema = v.object({ domain: Domain, epoch: Epoch, after: Seq, afterEpoch: Epoch })

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
