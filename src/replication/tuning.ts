/**
 * The one schema of a node's store tuning (MeshNode's `store` option): per option its check and
 * its default. `checkTuning` (node/settings.ts) checks a node's options against it, the state
 * manager takes its defaults from `TUNING_DEFAULTS`, and `npm run docs:options` writes the options
 * table of docs/api.md from it and from each option's doc string and group (tuning-docs.ts, kept
 * apart so that the browser bundle does not carry the prose; a type error if one is missing).
 */
import * as v from 'valibot'

const wholeFrom0 = v.pipe(v.number(), v.integer(), v.minValue(0))
const wholeFrom1 = v.pipe(v.number(), v.integer(), v.minValue(1))
const from0 = v.pipe(v.number(), v.finite(), v.minValue(0))
const msUpTo1000 = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(1000))

/** `must`: how a check's error names what the option must be ("a whole number of 0 or more"). */
function option<S extends v.GenericSchema<unknown, unknown>, D extends v.InferOutput<S>>(schema: S, fallback: D, must: string) {
  return v.optional(v.pipe(schema, v.metadata({ must })), fallback)
}

const WHOLE = 'a whole number of 0 or more'

/** The input limits (`store.limits`): what a key, a value or a patch may be. */
export const LIMITS_SCHEMA = v.object({
  maxKeyLength: option(wholeFrom1, 512, 'a whole number of 1 or more'),
  maxDepth: option(wholeFrom1, 32, 'a whole number of 1 or more'),
  maxValueBytes: option(wholeFrom1, 1024 * 1024, 'a whole number of 1 or more'),
  maxOps: option(wholeFrom1, 1000, 'a whole number of 1 or more'),
})

/** MeshNode's `store` option, every field optional. */
export const TUNING_SCHEMA = v.object({
  writeAcks: option(v.union([v.literal('all'), wholeFrom0]), 'all' as 'all' | number, "'all' or a whole number of 0 or more"),
  writeTimeoutMs: option(wholeFrom1, 10_000, 'a whole number of ms, 1 or more'),
  resendAfterMs: option(wholeFrom1, 200, 'a whole number of ms, 1 or more'),
  compactBytes: option(wholeFrom1, 1024 * 1024, 'a whole number of bytes, 1 or more'),
  retainEntries: option(wholeFrom0, 128, WHOLE),
  restEntries: option(wholeFrom0, 32, WHOLE),
  healPauseRatio: option(from0, 1, 'a number of 0 or more'),
  healPieceGapMs: option(msUpTo1000, 5, 'a number of ms from 0 to 1000'),
  healQuietMs: option(msUpTo1000, 3, 'a number of ms from 0 to 1000'),
  coolAfterMs: option(wholeFrom0, 10_000, 'a whole number of ms, 0 or more'),
  limits: v.optional(LIMITS_SCHEMA),
})

type Defaults<T extends v.ObjectSchema<v.ObjectEntries, undefined>> = { readonly [K in keyof T['entries']]-?: Exclude<v.InferOutput<T['entries'][K]>, undefined> }

/** Each replication option's default (`limits`: guard.ts's DEFAULT_LIMITS, the same values as LIMITS_SCHEMA's). */
export const TUNING_DEFAULTS = v.getDefaults(TUNING_SCHEMA) as Omit<Defaults<typeof TUNING_SCHEMA>, 'limits'>

/** Every option's name, nested ones (`limits.maxOps`) dotted. */
export type TuningName = Exclude<keyof typeof TUNING_SCHEMA.entries, 'limits'> | `limits.${keyof typeof LIMITS_SCHEMA.entries}`

/** One option as the checks and the docs table see it. */
export interface TuningOption {
  name: TuningName
  default: unknown
  must: string
  schema: v.GenericSchema
}

function optionsOf(schema: v.ObjectSchema<v.ObjectEntries, undefined>, prefix: string): TuningOption[] {
  return Object.entries(schema.entries).flatMap(([name, entry]) => {
    const inner = (entry as v.OptionalSchema<v.GenericSchema, unknown>).wrapped
    if (inner.type === 'object') return optionsOf(inner as v.ObjectSchema<v.ObjectEntries, undefined>, `${prefix}${name}.`)
    const { must } = v.getMetadata(inner as never) as { must: string }
    return [{ name: (prefix + name) as TuningName, default: v.getDefault(entry as never), must, schema: inner }]
  })
}

/** Every option, in the schema's order. */
export const TUNING_OPTIONS: readonly TuningOption[] = optionsOf(TUNING_SCHEMA, '')
