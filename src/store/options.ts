/**
 * The options of the store's calls, checked once where the call is made, the same way whether the
 * key's primary is this node or another: an unknown name (`ifVerison`) or a value the option cannot
 * take (`ifVersion: NaN`) is an InvalidOptionError, never a quietly unconditional write.
 */
import { InvalidOptionError } from '../errors.js'
import { isVersion, VERSION_MUST } from '../objects/guard.js'

type Check = (v: unknown) => boolean

const isPath: Check = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string' || (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0))

interface Spec {
  readonly [name: string]: readonly [Check, string]
}

const VERSION = [isVersion, VERSION_MUST] as const
export const WRITE_OPTIONS: Spec = { ifVersion: VERSION }
export const UPDATE_OPTIONS: Spec = { retries: [isVersion, 'a non-negative integer'] }
export const READ_OPTIONS: Spec = { from: [(v) => v === 'primary' || v === 'local', "'primary' or 'local'"], path: [isPath, 'an array of strings and non-negative integers'] }
export const SUBSCRIBE_OPTIONS: Spec = { from: READ_OPTIONS.from! }

/** Throws InvalidOptionError unless `opts` is an object of known names with acceptable values (undefined: not given). */
export function checkOptions(call: string, opts: unknown, spec: Spec): void {
  if (opts === undefined) return
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new InvalidOptionError(`of ${call}`, opts, 'an object')
  for (const name of Object.keys(opts)) {
    const s = spec[name]
    if (!Object.hasOwn(spec, name) || !s) throw new InvalidOptionError(`${call} ${name}`, (opts as Record<string, unknown>)[name], `one of the known options (${Object.keys(spec).join(', ')})`)
    const v = (opts as Record<string, unknown>)[name]
    if (v !== undefined && !s[0](v)) throw new InvalidOptionError(`${call} ${name}`, v, s[1])
  }
}
