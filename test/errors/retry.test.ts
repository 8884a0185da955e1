/** Each error class says whether a retry is safe, unknown or never; the lists of codes derive from it. */
import { describe, expect, it } from 'vitest'
import { ClosedError, NoRouteError, NotConnectedError, OutcomeUnknownError, RemoteError, TimeoutError, retryOf, toWireError, CasConflictError, NotPrimaryError, NotReadyError } from '../../src/errors.js'
import { UNREACHABLE_CODES as PUBLIC_UNREACHABLE } from '../../src/index.js'
import { UNREACHABLE_CODES, WIRE_ERRORS, codesWhere, fromWireError } from '../../src/remote-errors.js'
import { ClientMovedError, SessionNotFoundError } from '../../src/session/errors.js'

describe('retry classification', () => {
  it('an error rebuilt from another node says what its class says', () => {
    const back = (e: Error) => fromWireError(toWireError(e))
    expect(back(new NotPrimaryError(3, undefined)).retry).toBe('safe')
    expect(back(new NotReadyError(3, 'syncing')).retry).toBe('safe')
    expect(back(new CasConflictError('k', [], 1, 2)).retry).toBe('never')
    expect(back(new OutcomeUnknownError('write of k')).retry).toBe('unknown')
    expect(back(new ClientMovedError('c1')).retry).toBe('safe')
    expect(back(new SessionNotFoundError('s1')).retry).toBe('never')
    // A code this node has no class for is final: nothing says a retry is safe.
    const future = fromWireError({ code: 'FROM_THE_FUTURE', name: 'FutureError', message: 'm' })
    expect(future).toBeInstanceOf(RemoteError)
    expect(future.retry).toBe('never')
    expect(retryOf(new Error('a bug'))).toBe('never')
  })

  it('the errors of a link that is gone leave the outcome open, a missing route does not', () => {
    expect(new NoRouteError('node', 'n9', 'x').retry).toBe('safe')
    for (const e of [new TimeoutError('request', 5), new NotConnectedError('request'), new ClosedError('node')]) expect(e.retry).toBe('unknown')
  })

  it('the lists of codes come from the classes', () => {
    expect([...UNREACHABLE_CODES].sort()).toEqual(['CLOSED', 'NOT_CONNECTED', 'NO_ROUTE', 'TIMEOUT'])
    expect(PUBLIC_UNREACHABLE).toBe(UNREACHABLE_CODES)
    // What a caller may send again: nothing a user got wrong (a bad key, a conflict) is among them.
    expect([...codesWhere((c) => c.retry === 'safe')].sort()).toEqual(
      ['CLIENT_MOVED', 'COPY_DELTA_GONE', 'COPY_MISSING', 'NOT_PRIMARY', 'NOT_READY', 'NO_LIVE_REPLICA', 'NO_PRIMARY', 'NO_ROUTE', 'SESSION_UNCONFIRMED', 'STALE_TOKEN'],
    )
    expect([...codesWhere((c) => c.askElsewhere)].sort()).toEqual(['CLIENT_MOVED', 'NO_LIVE_REPLICA'])
    for (const [, cls] of WIRE_ERRORS) expect(['safe', 'unknown', 'never']).toContain(cls.retry)
  })
})
