/**
 * The one schema of a node's store tuning (MeshNode's `store` option): per option its check and
 * its default. `checkTuning` (node/settings.ts) checks a node's options against it, the state
 * manager takes its defaults from `TUNING_DEFAULTS`, and `npm run docs:options` writes the options
 * table of docs/api.md from it and from each option's doc string and group (tuning-docs.ts, kept
 * apart so that the browser bundle does not carry the prose; a type error if one is missing).
 */
import * as v from '../util/schema.js'

const finite = v.check((x: number) => Number.isFinite(x))
const wholeFrom0 = v.pipe(v.number(), v.integer(), v.minValue(0))
const wholeFrom1 = v.pipe(v.number(), v.integer(), v.minValue(1))
const from0 = v.pipe(v.number(), finite, v.minValue(0))
const msUpTo1000 = v.pipe(v.number(), finite, v.minValue(0), v.maxValue(1000))

/** One option: its check, its default, and how a check's error names what it must be ("a whole number of 0 or more"). */
interface Option<T> {
  readonly schema: v.GenericSchema<T>
  readonly default: T
  readonly must: string
}
const option = <T,>(schema: v.GenericSchema<T>, fallback: NoInfer<T>, must: string): Option<T> => ({ schema, default: fallback, must })

const WHOLE = 'a whole number of 0 or more'

/** The input limits (`store.limits`): what a key, a value or a patch may be. */
export const LIMITS_SCHEMA = {
  maxKeyLength: option(wholeFrom1, 512, 'a whole number of 1 or more'),
  maxDepth: option(wholeFrom1, 32, 'a whole number of 1 or more'),
  maxValueBytes: option(wholeFrom1, 1024 * 1024, 'a whole number of 1 or more'),
  maxOps: option(wholeFrom1, 1000, 'a whole number of 1 or more'),
}

/** MeshNode's `store` option, every field optional (`limits`: LIMITS_SCHEMA). */
export const TUNING_SCHEMA = {
  writeAcks: option<'all' | number>(v.union([v.literal('all'), wholeFrom0]), 'all', "'all' or a whole number of 0 or more"),
  writeTimeoutMs: option(wholeFrom1, 10_000, 'a whole number of ms, 1 or more'),
  resendAfterMs: option(wholeFrom1, 200, 'a whole number of ms, 1 or more'),
  compactBytes: option(wholeFrom1, 1024 * 1024, 'a whole number of bytes, 1 or more'),
  retainEntries: option(wholeFrom0, 128, WHOLE),
  restEntries: option(wholeFrom0, 32, WHOLE),
  healPauseRatio: option(from0, 1, 'a number of 0 or more'),
  healPieceGapMs: option(msUpTo1000, 5, 'a number of ms from 0 to 1000'),
  healQuietMs: option(msUpTo1000, 3, 'a number of ms from 0 to 1000'),
  coolAfterMs: option(wholeFrom0, 10_000, 'a whole number of ms, 0 or more'),
  limits: LIMITS_SCHEMA,
}

type Tuning = Omit<typeof TUNING_SCHEMA, 'limits'>

/** Each replication option's default (`limits`: guard.ts's DEFAULT_LIMITS, the same values as LIMITS_SCHEMA's). */
export const TUNING_DEFAULTS = Object.fromEntries(Object.entries(TUNING_SCHEMA).flatMap(([k, o]) => ('schema' in o ? [[k, o.default]] : []))) as { readonly [K in keyof Tuning]: Tuning[K]['default'] }

/** Every option's name, nested ones (`limits.maxOps`) dotted. */
export type TuningName = keyof Tuning | `limits.${keyof typeof LIMITS_SCHEMA}`

/** One option as the checks and the docs table see it. */
export interface TuningOption {
  name: TuningName
  default: unknown
  must: string
  schema: v.GenericSchema
}

/** Every option, in the schema's order. */
export const TUNING_OPTIONS: readonly TuningOption[] = [
  ...Object.entries(TUNING_SCHEMA).flatMap(([name, o]) => ('schema' in o ? [{ name: name as TuningName, default: o.default, must: o.must, schema: o.schema as v.GenericSchema }] : [])),
  ...Object.entries(LIMITS_SCHEMA).map(([name, o]) => ({ name: `limits.${name}` as TuningName, default: o.default, must: o.must, schema: o.schema as v.GenericSchema })),
]
