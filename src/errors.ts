/**
 * Named errors. Every error a caller can receive has its own class and a stable `code`, so that it
 * survives the wire (see `toWireError`/`fromWireError`) and callers can branch on it.
 */
/**
 * Whether sending the same request again after an error is safe, class by class:
 *   - 'safe': the request was not carried out (this node is not the primary, there is none yet, no
 *     route, not ready): send it again, after a wait or to another node;
 *   - 'unknown': it may have been carried out (it left, and then the link, the answer or the
 *     primary was lost): a read may go again; a write only after reading what happened;
 *   - 'never': the answer is final (bad input, a conflict, a missing key): it would fail again.
 * Every list of codes that a caller retries on derives from these (remote-errors.ts).
 */
export type Retry = 'safe' | 'unknown' | 'never'

export class DomainMeshError extends Error {
  /** Whether a retry is safe after this class of error: see `Retry`. Subclasses override it. */
  static readonly retry: Retry = 'never'
  /**
   * True for the errors that say the other node could not be reached (no route, link down,
   * silent, closing), as opposed to an answer that says no.
   */
  static readonly unreachable: boolean = false
  /** True when another node may serve what this one refused (it no longer serves the client, or knows no live copy). */
  static readonly askElsewhere: boolean = false
  readonly code: string
  readonly details: Record<string, unknown>
  /** True when another node raised it and answered a request with it (remote-errors.ts). */
  declare remote?: true
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.details = details
  }

  /** This error's class's `retry` (also for an error rebuilt from another node's answer). */
  get retry(): Retry {
    return (this.constructor as typeof DomainMeshError).retry
  }
}

/** `err.retry` for a DomainMeshError; anything else (a plain Error, a bug) is final: 'never'. */
export const retryOf = (err: unknown): Retry => (err instanceof DomainMeshError ? err.retry : 'never')

const classOf = (err: unknown): typeof DomainMeshError | undefined => (err instanceof DomainMeshError ? (err.constructor as typeof DomainMeshError) : undefined)

export class InvalidIdError extends DomainMeshError {
  constructor(kind: string, value: unknown) {
    super('INVALID_ID', `invalid ${kind} ${JSON.stringify(value)}: expected 1-128 chars of [A-Za-z0-9._-], starting with a letter or digit`, { kind })
  }
}

/** A call was given an option it does not know, or a value the option cannot take. */
export class InvalidOptionError extends DomainMeshError {
  constructor(option: string, value: unknown, expected: string) {
    // NaN and Infinity would print as null in JSON.
    super('INVALID_OPTION', `invalid option ${option}: expected ${expected}, not ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`, { option })
  }
}

export class InvalidAddressError extends DomainMeshError {
  constructor(input: unknown, why: string) {
    super('INVALID_ADDRESS', `invalid address ${JSON.stringify(input)}: ${why}`)
  }
}

export type AddressPart = 'cluster' | 'node' | 'engine' | 'engineType' | 'virtualServer'

/** Whether another node may serve what `err` refused (its class's `askElsewhere`). */
export const askElsewhere = (err: unknown): boolean => classOf(err)?.askElsewhere === true

/** Whether `err` says the other node could not be reached (its class's `unreachable`). Callers that retry elsewhere or wait for a view use this. */
export const isUnreachable = (err: unknown): boolean => classOf(err)?.unreachable === true

/** The router could not deliver: `part` says which part of the address matched nothing. */
export class NoRouteError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  static override readonly unreachable = true
  readonly part: AddressPart
  constructor(part: AddressPart, value: string, address: string) {
    super('NO_ROUTE', `no route to ${address}: unknown ${part} "${value}"`, { part, value })
    this.part = part
  }
}

export class MalformedFrameError extends DomainMeshError {
  constructor(reason: string) {
    super('MALFORMED_FRAME', `malformed frame: ${reason}`)
  }
}

/**
 * `details.sent`, where the messenger sets it on a request's error: false when the request never
 * left this node (sending it again cannot apply it twice), true when it may have reached the other
 * node. Absent: not known.
 */
export class TimeoutError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  static override readonly unreachable = true
  constructor(what: string, ms: number, details: Record<string, unknown> = {}) {
    super('TIMEOUT', `${what} timed out after ${ms} ms`, { ms, ...details })
  }
}

export class NotConnectedError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  static override readonly unreachable = true
  constructor(what: string, details: Record<string, unknown> = {}) {
    super('NOT_CONNECTED', `${what}: not connected`, details)
  }
}

export class ClosedError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  static override readonly unreachable = true
  constructor(what: string, details: Record<string, unknown> = {}) {
    super('CLOSED', `${what} is closed`, details)
  }
}

/** Whether a request's error says it never left this node (see `details.sent` above). */
export const neverSent = (err: unknown): boolean => err instanceof DomainMeshError && !isRemote(err) && err.details.sent === false

/** Whether `err` is another node's answer to a request (rebuilt by remote-errors.ts), not raised on this node. */
export const isRemote = (err: unknown): boolean => err instanceof DomainMeshError && err.remote === true

/**
 * A write may or may not have been applied: it reached the primary (or may have), and then the
 * link, the primary or the wait for its commit failed before an answer came. Sending it again may
 * apply it twice; read the key to learn which. `cause` is the error that ended the wait, and its
 * code is in `details.cause`. This is the one error for that case, on every path: a primary that
 * changed, a commit that timed out, a link that dropped after the request left, a closing node.
 */
export class OutcomeUnknownError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  /** A write the primary took as `seq` of `domain`; without a cause, the primary changed before it was confirmed. */
  constructor(domain: number, seq: number, cause?: unknown)
  /** `what`: the write, as the caller knows it (e.g. "write of cart:1 sent to n2"). */
  constructor(what: string, cause?: unknown)
  constructor(a: number | string, b?: unknown, c?: unknown) {
    const o = outcomeParts(a, b, c)
    super('OUTCOME_UNKNOWN', o.message, o.details)
    if (o.cause !== undefined) this.cause = o.cause
  }
}

function outcomeParts(a: number | string, b: unknown, c: unknown): { message: string; details: Record<string, unknown>; cause: unknown } {
  const byPrimary = typeof a === 'number'
  const cause = byPrimary ? c : b
  // A remote OutcomeUnknownError already says all of it: keep its words and details.
  if (cause instanceof DomainMeshError && cause.code === 'OUTCOME_UNKNOWN') return { message: cause.message, details: cause.details, cause }
  const what = byPrimary ? `domain ${a}: write ${b as number}` : a
  const why = cause === undefined ? 'the primary changed before it was confirmed' : describeCause(cause)
  const details: Record<string, unknown> = byPrimary ? { domain: a, seq: b } : {}
  if (cause !== undefined) details.cause = (cause as { code?: unknown }).code ?? (cause as { name?: unknown }).name
  return { message: `${what} may or may not have been applied: ${why}`, details, cause }
}

const describeCause = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err))

export class StorageError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STORAGE', message, details)
  }
}

export class InvalidKeyError extends DomainMeshError {
  constructor(key: unknown, why: string) {
    super('INVALID_KEY', `invalid storage key ${JSON.stringify(key)}: ${why}`)
  }
}

/** An error as it travels in a response frame. */
export interface WireError {
  code: string
  name: string
  message: string
  details?: Record<string, unknown> | undefined
}

export function toWireError(err: unknown): WireError {
  if (err instanceof DomainMeshError) {
    return { code: err.code, name: err.name, message: err.message, details: err.details }
  }
  const e = err instanceof Error ? err : new Error(String(err))
  return { code: 'INTERNAL', name: e.name, message: e.message }
}

/**
 * An error raised on a remote node with a code this node has no class for (remote-errors.ts
 * rebuilds the others as their own class), re-created with the same name and code.
 */
export class RemoteError extends DomainMeshError {
  readonly remoteName: string
  constructor(w: WireError) {
    super(w.code, w.message, w.details ?? {})
    this.remoteName = w.name
    this.name = w.name
    this.remote = true
  }
}

// Errors of the replicated store. Each names the key, path or version that was wrong.

export class InvalidStoreKeyError extends DomainMeshError {
  constructor(key: unknown, why: string) {
    super('INVALID_STORE_KEY', `invalid key ${JSON.stringify(key)}: ${why}`)
  }
}

export class KeyNotFoundError extends DomainMeshError {
  constructor(key: string) {
    super('KEY_NOT_FOUND', `no object under key "${key}"`, { key })
  }
}

export class PathNotFoundError extends DomainMeshError {
  constructor(key: string, path: readonly (string | number)[]) {
    super('PATH_NOT_FOUND', `object "${key}" has nothing at path /${path.join('/')}`, { key, path })
  }
}

export class ForbiddenPathError extends DomainMeshError {
  constructor(path: readonly unknown[], segment: string) {
    super('FORBIDDEN_PATH', `path /${path.join('/')} contains the forbidden segment "${segment}"`, { segment })
  }
}

export class InvalidPatchError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_PATCH', `invalid patch: ${why}`)
  }
}

export class InvalidValueError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_VALUE', `invalid value: ${why}`)
  }
}

export class ValueTooLargeError extends DomainMeshError {
  constructor(what: string, bytes: number, limit: number) {
    super('VALUE_TOO_LARGE', `${what} is ${bytes} bytes, over the limit of ${limit}`, { bytes, limit })
  }
}

export class CasConflictError extends DomainMeshError {
  constructor(key: string, path: readonly (string | number)[], expected: number, actual: number) {
    super('CAS_CONFLICT', `object "${key}" at /${path.join('/')} is at version ${actual}, not ${expected}`, { key, path, expected, actual })
  }
}

export class NoPrimaryError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(domain: number) {
    super('NO_PRIMARY', `domain ${domain} has no live replica`, { domain })
  }
}

/**
 * The domain's primary cannot prove its copy is complete (its stored copy was damaged, or it is
 * still catching up after taking over): it neither answers "absent" nor takes a write. Safe to
 * send again; the store does so until its write timeout.
 */
export class NotReadyError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(domain: number, why: string) {
    super('NOT_READY', `domain ${domain} is not ready: ${why}`, { domain, why })
  }
}

export class NotPrimaryError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(domain: number, primary: string | undefined, why?: string) {
    super('NOT_PRIMARY', `this node is not the primary of domain ${domain}${primary ? ` (${primary} is)` : ''}${why ? `: ${why}` : ''}`, { domain, primary })
  }
}

export class StaleEpochError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  constructor(domain: number, mine: number, theirs: number) {
    super('STALE_EPOCH', `domain ${domain}: epoch ${mine} is older than ${theirs}; this node was fenced off`, { domain, mine, theirs })
  }
}
