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

/**
 * The wire form of changes and log entries: tuples, not objects. A one-field patch travels in a
 * write request and in an append to every backup; as objects, its key names were most of its
 * bytes. Put: `[0, value]`; patch: `[1, ...patches]`, each `[op, path]` or `[op, path, value]`
 * with op 0 add, 1 replace, 2 remove; delete: `[2]`. An entry: `[seq, epoch, vs, key, change]`.
 * The schemas check the tuples and turn them back into the objects the state code works with.
 */
const OPS = ['add', 'replace', 'remove'] as const
const Op = v.picklist([0, 1, 2])
const WirePatchSchema = v.pipe(
  v.union([v.strictTuple([Op, PathSchema]), v.strictTuple([Op, PathSchema, v.unknown()])]),
  v.transform((t): v.InferOutput<typeof PatchSchema> => (t.length === 2 ? { op: OPS[t[0]], path: t[1] } : { op: OPS[t[0]], path: t[1], value: t[2] })),
)
export const WireChangeSchema = v.union([
  v.pipe(v.array(v.unknown()), v.length(2, 'a put carries a value'), v.strictTuple([v.literal(0), v.unknown()]), v.transform((t): Change => ({ kind: 'put', value: t[1] }))),
  v.pipe(v.tupleWithRest([v.literal(1)], WirePatchSchema), v.transform(([, ...patches]): Change => ({ kind: 'patch', patches: asPatches(patches) }))),
  v.pipe(v.strictTuple([v.literal(2)]), v.transform((): Change => ({ kind: 'delete' }))),
])
export const WireEntrySchema = v.pipe(
  v.strictTuple([LogEntrySchema.entries.seq, LogEntrySchema.entries.epoch, v.string(), v.string(), WireChangeSchema]),
  v.transform(([seq, epoch, vs, key, change]): LogEntry => ({ seq, epoch, vs, key, change })),
)

export function toWireChange(c: Change): unknown[] {
  switch (c.kind) {
    case 'put':
      return [0, c.value]
    case 'patch':
      return [1, ...c.patches.map((p) => (p.value === undefined && !('value' in p) ? [OPS.indexOf(p.op), p.path] : [OPS.indexOf(p.op), p.path, p.value]))]
    case 'delete':
      return [2]
  }
}

export const toWireEntry = (e: LogEntry): unknown[] => [e.seq, e.epoch, e.vs, e.key, toWireChange(e.change)]

export const asPatches = (p: v.InferOutput<typeof PatchSchema>[]): Patch[] => p as Patch[]
