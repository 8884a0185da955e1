/** Errors of the session engine and client. */
import { DomainMeshError } from '../errors.js'

export class SessionNotFoundError extends DomainMeshError {
  constructor(sessionId: string) {
    super('SESSION_NOT_FOUND', `no session "${sessionId}" (it never existed, expired, or was destroyed)`, { sessionId })
  }
}

export class InvalidTokenError extends DomainMeshError {
  constructor(why: string) {
    super('INVALID_TOKEN', `failover token rejected: ${why}`)
  }
}

export class NoLiveReplicaError extends DomainMeshError {
  constructor(clientId: string, tried: readonly string[]) {
    super('NO_LIVE_REPLICA', `client "${clientId}": none of the nodes in its failover token is reachable (${tried.join(', ') || 'none'})`, { clientId, tried })
  }
}

export class VirtualServerMismatchError extends DomainMeshError {
  constructor(asked: string, owner: string) {
    super('VIRTUAL_SERVER_MISMATCH', `this session belongs to virtual server "${owner}", not "${asked}"`, { asked, owner })
  }
}
