/**
 * The one schema of a node's store tuning (MeshNode's `store` option): per option its check, its
 * default and a doc string. `checkTuning` (node/settings.ts) checks a node's options against it,
 * the state manager takes its defaults from `TUNING_DEFAULTS`, and `npm run docs:options` writes
 * the options table of docs/api.md from it. Options in the `advanced` group are the dials the
 * benchmarks turn (memory against catch-up, healing against foreground writes); an application
 * seldom needs them.
 */
import * as v from 'valibot'

/** Which table an option is listed in: `store` (what an application sets) or `advanced` (benchmark dials). */
export type TuningGroup = 'store' | 'advanced'

type Spec = {
  group: TuningGroup
  /** How a check's error names what the option must be ("a whole number of 0 or more"). */
  must: string
}

const wholeFrom0 = v.pipe(v.number(), v.integer(), v.minValue(0))
const wholeFrom1 = v.pipe(v.number(), v.integer(), v.minValue(1))
const from0 = v.pipe(v.number(), v.finite(), v.minValue(0))
const msUpTo1000 = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(1000))

function option<S extends v.GenericSchema<unknown, unknown>, D extends v.InferOutput<S>>(schema: S, fallback: D, doc: string, spec: Spec) {
  return v.optional(v.pipe(schema, v.description(doc), v.metadata(spec)), fallback)
}

const WHOLE = 'a whole number of 0 or more'

/** The input limits (`store.limits`): what a key, a value or a patch may be. */
export const LIMITS_SCHEMA = v.object({
  maxKeyLength: option(wholeFrom1, 512, 'Longest key, in characters.', { group: 'store', must: 'a whole number of 1 or more' }),
  maxDepth: option(wholeFrom1, 32, 'Deepest nesting of a value or a patch path.', { group: 'store', must: 'a whole number of 1 or more' }),
  maxValueBytes: option(wholeFrom1, 1024 * 1024, 'Largest value (or patch), in bytes as encoded.', { group: 'store', must: 'a whole number of 1 or more' }),
  maxOps: option(wholeFrom1, 1000, 'Most operations one patch may carry.', { group: 'store', must: 'a whole number of 1 or more' }),
})

/** MeshNode's `store` option, every field optional. */
export const TUNING_SCHEMA = v.object({
  writeAcks: option(v.union([v.literal('all'), wholeFrom0]), 'all' as 'all' | number, "Backups that must ack a write before it is acknowledged: 'all' live ones, or a number (all, if fewer are live).", {
    group: 'store',
    must: "'all' or a whole number of 0 or more",
  }),
  writeTimeoutMs: option(wholeFrom1, 10_000, 'How long a write may take, its retries while placement settles included, before it fails (OutcomeUnknownError once it reached the primary).', { group: 'store', must: 'a whole number of ms, 1 or more' }),
  resendAfterMs: option(wholeFrom1, 200, 'How long an unacknowledged append, resend request or healing piece waits before it is sent again.', { group: 'store', must: 'a whole number of ms, 1 or more' }),
  compactBytes: option(wholeFrom1, 1024 * 1024, "Bytes of log segments per domain on disk before a snapshot replaces them.", { group: 'advanced', must: 'a whole number of bytes, 1 or more' }),
  retainEntries: option(wholeFrom0, 128, 'Log entries each domain keeps in memory beyond what every copy holds: an owner away briefly catches up by these; one further behind gets a snapshot.', { group: 'advanced', must: WHOLE }),
  restEntries: option(wholeFrom0, 32, 'What a cooled (quiet) domain keeps of those, never more than retainEntries.', { group: 'advanced', must: WHOLE }),
  healPauseRatio: option(from0, 1, 'After each healing copy, pause this many times as long as the copy took (0: no pause).', { group: 'advanced', must: 'a number of 0 or more' }),
  healPieceGapMs: option(msUpTo1000, 5, 'Wait between the pieces (128 entries or objects) of one healing copy (0: one event-loop turn).', { group: 'advanced', must: 'a number of ms from 0 to 1000' }),
  healQuietMs: option(msUpTo1000, 3, 'Before each piece of a healing copy, wait until no write was seen for this long (25 ms at most; 0: never wait).', { group: 'advanced', must: 'a number of ms from 0 to 1000' }),
  coolAfterMs: option(wholeFrom0, 10_000, 'A domain with no write for 1-2 × this keeps its log and objects encoded until used (0: never).', { group: 'advanced', must: 'a whole number of ms, 0 or more' }),
  limits: v.optional(LIMITS_SCHEMA),
})

type Defaults<T extends v.ObjectSchema<v.ObjectEntries, undefined>> = { readonly [K in keyof T['entries']]-?: Exclude<v.InferOutput<T['entries'][K]>, undefined> }

/** Each replication option's default (`limits`: guard.ts's DEFAULT_LIMITS, the same values as LIMITS_SCHEMA's). */
export const TUNING_DEFAULTS = v.getDefaults(TUNING_SCHEMA) as Omit<Defaults<typeof TUNING_SCHEMA>, 'limits'>

/** One option as the docs table and the checks see it. */
export interface TuningOption {
  name: string
  group: TuningGroup
  default: unknown
  doc: string
  must: string
  schema: v.GenericSchema
}

function optionsOf(schema: v.ObjectSchema<v.ObjectEntries, undefined>, prefix: string): TuningOption[] {
  return Object.entries(schema.entries).flatMap(([name, entry]) => {
    const inner = (entry as v.OptionalSchema<v.GenericSchema, unknown>).wrapped
    if (inner.type === 'object') return optionsOf(inner as v.ObjectSchema<v.ObjectEntries, undefined>, `${prefix}${name}.`)
    const spec = v.getMetadata(inner as never) as unknown as Spec
    return [{ name: prefix + name, group: spec.group, default: v.getDefault(entry as never), doc: v.getDescription(inner as never) ?? '', must: spec.must, schema: inner }]
  })
}

/** Every option, nested ones (`limits.maxOps`) by their dotted name. */
export const TUNING_OPTIONS: readonly TuningOption[] = optionsOf(TUNING_SCHEMA, '')
