/** A log entry: one write as the primary applied it, at its place (`seq`) in its domain's order. */
import type { Patch } from 'immer'
import * as v from 'valibot'
import type { Change } from './objects.js'

export interface LogEntry {
  readonly seq: number
  /** The view epoch under which the primary wrote it: two logs that agree on (seq, epoch) agree up to seq. */
  readonly epoch: number
  readonly vs: string
  readonly key: string
  readonly change: Change
}

const PathSchema = v.array(v.union([v.string(), v.number()]))
export const PatchSchema = v.object({
  op: v.picklist(['add', 'replace', 'remove']),
  path: PathSchema,
  value: v.optional(v.unknown()),
})

export const ChangeSchema = v.variant('kind', [
  v.object({ kind: v.literal('put'), value: v.unknown() }),
  v.object({ kind: v.literal('patch'), patches: v.array(PatchSchema) }),
  v.object({ kind: v.literal('delete') }),
])

export const LogEntrySchema = v.object({
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  epoch: v.pipe(v.number(), v.integer(), v.minValue(0)),
  vs: v.string(),
  key: v.string(),
  change: ChangeSchema,
})

export const asPatches = (p: v.InferOutput<typeof PatchSchema>[]): Patch[] => p as Patch[]
