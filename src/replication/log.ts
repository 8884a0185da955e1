/** A log entry: one write as the primary applied it, at its place (`seq`) in its domain's order. */
import type { Patch } from 'immer'
import * as v from '../util/schema.js'
import { decodeValue, encodeValue } from '../wire/codec.js'
import { acceptAll, isInteger } from '../wire/fast-path.js'
import type { Change, StorePatch } from '../objects/objects.js'

export interface LogEntry {
  readonly seq: number
  /** The view epoch under which the primary wrote it: two logs that agree on (seq, epoch) agree up to seq. */
  readonly epoch: number
  readonly vs: string
  readonly key: string
  readonly change: Change
}

const PathSchema = v.array(v.union([v.string(), v.number()]))
const Count = v.pipe(v.number(), v.integer(), v.minValue(0))
export const PatchSchema = v.union([
  v.object({
    op: v.picklist(['add', 'replace', 'remove']),
    path: PathSchema,
    value: v.optional(v.unknown()),
  }),
  v.object({ op: v.literal('splice'), path: PathSchema, index: Count, remove: Count, value: v.array(v.unknown()) }),
])

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
 * with op 0 add, 1 replace, 2 remove, or `[3, path, index, remove, values]` for a splice; delete: `[2]`. An entry: `[seq, epoch, vs, key, change]`.
 * The schemas check the tuples and turn them back into the objects the state code works with.
 */
const OPS = ['add', 'replace', 'remove'] as const
const Op = v.picklist([0, 1, 2])
const WirePatchShort = v.strictTuple([Op, PathSchema])
const WirePatchLong = v.strictTuple([Op, PathSchema, v.unknown()])
const WireSplice = v.strictTuple([v.literal(3), PathSchema, Count, Count, v.array(v.unknown())])
const WirePut = v.strictTuple([v.literal(0), v.unknown()])
const WirePatch = v.tupleWithRest([v.literal(1)], v.array(v.unknown()))
const WireDelete = v.strictTuple([v.literal(2)])

/**
 * Checks `input` against `schema` inside a transform: its issues become the caller's. A tuple's
 * first element picks the one schema that applies; a union would try the others first, and every
 * failed branch builds issues with formatted messages: most of the cost of checking an append.
 */
function check<T extends v.GenericSchema>(schema: T, input: unknown, addIssue: (i: { message: string }) => void): v.InferOutput<T> | undefined {
  const r = v.safeParse(schema, input)
  if (r.success) return r.output
  addIssue({ message: r.issues[0]?.message ?? 'invalid' })
  return undefined
}

const WirePatchSchema = v.pipe(
  v.array(v.unknown()),
  v.rawTransform(({ dataset, addIssue, NEVER }): v.InferOutput<typeof PatchSchema> => {
    const t = dataset.value
    if (t.length === 2) {
      const p = check(WirePatchShort, t, addIssue)
      return p ? { op: OPS[p[0]], path: p[1] } : NEVER
    }
    if (t.length === 5) {
      const p = check(WireSplice, t, addIssue)
      return p ? { op: 'splice', path: p[1], index: p[2], remove: p[3], value: p[4] } : NEVER
    }
    const p = check(WirePatchLong, t, addIssue)
    return p ? { op: OPS[p[0]], path: p[1], value: p[2] } : NEVER
  }),
)
const WirePatches = v.array(WirePatchSchema)

export const WireChangeSchema = v.pipe(
  v.array(v.unknown()),
  v.rawTransform(({ dataset, addIssue, NEVER }): Change => {
    const t = dataset.value
    switch (t[0]) {
      case 0: {
        if (t.length !== 2) {
          addIssue({ message: 'a put carries a value' })
          return NEVER
        }
        const put = check(WirePut, t, addIssue)
        return put ? { kind: 'put', value: put[1] } : NEVER
      }
      case 1: {
        const patches = check(WirePatch, t, addIssue) && check(WirePatches, t.slice(1), addIssue)
        return patches ? { kind: 'patch', patches: asPatches(patches) } : NEVER
      }
      case 2:
        return check(WireDelete, t, addIssue) ? { kind: 'delete' } : NEVER
      default:
        addIssue({ message: `a change starts with 0 (put), 1 (patch) or 2 (delete), not ${String(t[0])}` })
        return NEVER
    }
  }),
)
export const WireEntrySchema = v.pipe(
  v.strictTuple([LogEntrySchema.entries.seq, LogEntrySchema.entries.epoch, v.string(), v.string(), WireChangeSchema]),
  v.transform(([seq, epoch, vs, key, change]): LogEntry => ({ seq, epoch, vs, key, change })),
)

/**
 * The hand-written fast path of WireChangeSchema and WireEntrySchema (see `src/wire/fast-path.ts`):
 * the schema's output for what it accepts, or undefined to leave the decision (and the wording of
 * the error) to the schema. Path arrays are copied, as the schema copies them: a local caller's
 * patch must not share them with the log.
 */
export function acceptWireChange(t: unknown): Change | undefined {
  if (!Array.isArray(t)) return undefined
  switch (t[0]) {
    case 0:
      return t.length === 2 ? { kind: 'put', value: t[1] } : undefined
    case 1: {
      const patches: StorePatch[] = []
      for (let i = 1; i < t.length; i++) {
        const p = acceptWirePatch(t[i])
        if (!p) return undefined
        patches.push(p)
      }
      return { kind: 'patch', patches }
    }
    case 2:
      return t.length === 1 ? { kind: 'delete' } : undefined
    default:
      return undefined
  }
}

function acceptWirePatch(p: unknown): StorePatch | undefined {
  if (!Array.isArray(p) || p.length < 2 || p.length > 5) return undefined
  const op = p[0]
  const path = p[1]
  if (p.length === 5 ? op !== 3 || !isInteger(p[2], 0) || !isInteger(p[3], 0) || !Array.isArray(p[4]) : p.length === 4 || (op !== 0 && op !== 1 && op !== 2)) return undefined
  if (!Array.isArray(path)) return undefined
  const copy: (string | number)[] = []
  for (const seg of path as unknown[]) {
    if (typeof seg !== 'string' && (typeof seg !== 'number' || Number.isNaN(seg))) return undefined
    copy.push(seg)
  }
  if (p.length === 5) return { op: 'splice', path: copy, index: p[2] as number, remove: p[3] as number, value: p[4] as unknown[] }
  return (p.length === 2 ? { op: OPS[op as 0 | 1 | 2], path: copy } : { op: OPS[op as 0 | 1 | 2], path: copy, value: p[2] }) as Patch
}

export function acceptWireEntry(t: unknown): LogEntry | undefined {
  if (!Array.isArray(t) || t.length !== 5) return undefined
  const [seq, epoch, vs, key] = t as unknown[]
  if (!isInteger(seq, 1) || !isInteger(epoch, 0) || typeof vs !== 'string' || typeof key !== 'string') return undefined
  const change = acceptWireChange(t[4])
  return change && { seq, epoch, vs, key, change }
}

export function toWireChange(c: Change): unknown[] {
  switch (c.kind) {
    case 'put':
      return [0, c.value]
    case 'patch': {
      // Built in place: every write is put in this form once or twice per copy.
      const out: unknown[] = [1]
      for (const p of c.patches) out.push(p.op === 'splice' ? [3, p.path, p.index, p.remove, p.value] : p.value === undefined && !('value' in p) ? [OPS.indexOf(p.op), p.path] : [OPS.indexOf(p.op), p.path, p.value])
      return out
    }
    case 'delete':
      return [2]
  }
}

export const toWireEntry = (e: LogEntry): unknown[] => [e.seq, e.epoch, e.vs, e.key, toWireChange(e.change)]

export const asPatches = (p: v.InferOutput<typeof PatchSchema>[]): StorePatch[] => p as StorePatch[]

/**
 * Entries as one msgpack array of their wire tuples (a quiet domain's log, domain-state.ts), in a
 * buffer of their own: the encoder's result is a view of its shared output buffer, which a kept
 * view would hold on to whole.
 */
export const encodeLog = (entries: readonly LogEntry[]): Uint8Array => new Uint8Array(encodeValue(entries.map(toWireEntry)))

const WireLogSchema = v.array(WireEntrySchema)
export function decodeLog(bytes: Uint8Array): LogEntry[] {
  const raw = decodeValue(bytes)
  return acceptAll(raw, acceptWireEntry) ?? v.parse(WireLogSchema, raw)
}
