/**
 * The one registry of errors that cross the wire: a request's error comes back from the other
 * node as its code, name, message and details (`toWireError`), and is rebuilt here as the same
 * named class, so `err instanceof CasConflictError` holds whichever node raised it. A code this
 * node does not know (a newer peer's, or a plain Error's INTERNAL) stays a RemoteError.
 *
 * A rebuilt error is marked remote (`isRemote`): what it says happened on the other node, which
 * matters to a caller deciding whether its own request may have left (`neverSent`).
 */
import * as core from './errors.js'
import { DomainMeshError, RemoteError, type WireError } from './errors.js'
import { BadRequestError, UnknownMethodError } from './routing/methods.js'
import * as session from './session/errors.js'
import { CopyDeltaGoneError, CopyNotWantedError } from './healing/healing-copy.js'
import { ForbiddenError, UnauthorizedError } from './auth/credentials.js'

/** An error class with what it says about a retry (`DomainMeshError.retry` and the other statics). */
type ErrorClass = (abstract new (...args: never[]) => DomainMeshError) & Pick<typeof DomainMeshError, 'retry' | 'unreachable' | 'askElsewhere'>

/** Code → class, for every error a request handler may answer with. */
export const WIRE_ERRORS: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['INVALID_ID', core.InvalidIdError],
  ['INVALID_OPTION', core.InvalidOptionError],
  ['INVALID_ADDRESS', core.InvalidAddressError],
  ['NO_ROUTE', core.NoRouteError],
  ['MALFORMED_FRAME', core.MalformedFrameError],
  ['TIMEOUT', core.TimeoutError],
  ['NOT_CONNECTED', core.NotConnectedError],
  ['CLOSED', core.ClosedError],
  ['OUTCOME_UNKNOWN', core.OutcomeUnknownError],
  ['STORAGE', core.StorageError],
  ['INVALID_KEY', core.InvalidKeyError],
  ['UNKNOWN_METHOD', UnknownMethodError],
  ['BAD_REQUEST', BadRequestError],
  ['INVALID_STORE_KEY', core.InvalidStoreKeyError],
  ['KEY_NOT_FOUND', core.KeyNotFoundError],
  ['PATH_NOT_FOUND', core.PathNotFoundError],
  ['FORBIDDEN_PATH', core.ForbiddenPathError],
  ['INVALID_PATCH', core.InvalidPatchError],
  ['INVALID_VALUE', core.InvalidValueError],
  ['VALUE_TOO_LARGE', core.ValueTooLargeError],
  ['CAS_CONFLICT', core.CasConflictError],
  ['NO_PRIMARY', core.NoPrimaryError],
  ['NOT_READY', core.NotReadyError],
  ['NOT_PRIMARY', core.NotPrimaryError],
  ['STALE_EPOCH', core.StaleEpochError],
  ['COPY_NOT_WANTED', CopyNotWantedError],
  ['COPY_DELTA_GONE', CopyDeltaGoneError],
  ['SESSION_NOT_FOUND', session.SessionNotFoundError],
  ['INVALID_TOKEN', session.InvalidTokenError],
  ['NO_LIVE_REPLICA', session.NoLiveReplicaError],
  ['VIRTUAL_SERVER_MISMATCH', session.VirtualServerMismatchError],
  ['STALE_CLIENT_EPOCH', session.StaleClientEpochError],
  ['CLIENT_MOVED', session.ClientMovedError],
  ['NOT_ENOUGH_REPLICAS', session.NotEnoughReplicasError],
  ['SESSION_UNCONFIRMED', session.SessionUnconfirmedError],
  ['COPY_MISSING', session.CopyMissingError],
  ['STALE_TOKEN', session.StaleTokenError],
  ['UNAUTHORIZED', UnauthorizedError],
  ['FORBIDDEN', ForbiddenError],
])

/** The codes of the errors whose class passes `test`: lists of codes derive from the classes. */
export function codesWhere(test: (cls: ErrorClass) => boolean): ReadonlySet<string> {
  return new Set([...WIRE_ERRORS].filter(([, cls]) => test(cls)).map(([code]) => code))
}

/**
 * Codes that mean "the other node could not be reached" (no route, link down, silent, closing), as
 * opposed to an answer that says no: the classes marked `unreachable`. On this node, `isUnreachable`
 * asks the error itself.
 */
export const UNREACHABLE_CODES: ReadonlySet<string> = codesWhere((cls) => cls.unreachable)

/**
 * An error from a remote node as its own class, with its message and details. The class's
 * constructor is not run (its arguments are not on the wire): the error is made with the class's
 * prototype and given the fields the constructor would have set.
 */
export function fromWireError(w: WireError): DomainMeshError {
  const cls = WIRE_ERRORS.get(w.code)
  if (!cls) return new RemoteError(w)
  const err = Reflect.construct(Error, [w.message], cls) as DomainMeshError & Record<string, unknown>
  const details = w.details ?? {}
  Object.defineProperties(err, {
    name: { value: w.name, writable: true, configurable: true },
    code: { value: w.code, enumerable: true },
    details: { value: details, enumerable: true },
  })
  // The one class with a field of its own besides code and details.
  if (cls === core.NoRouteError) Object.defineProperty(err, 'part', { value: details.part, enumerable: true })
  err.remote = true
  return err
}
