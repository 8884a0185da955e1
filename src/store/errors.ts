/** Errors of the replicated store. Each names the key, path or version that was wrong. */
import { DomainMeshError, type Retry } from '../errors.js'

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
