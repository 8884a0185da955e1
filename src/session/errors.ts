/** Errors of the session engine and client. */
import { DomainMeshError, type Retry } from '../errors.js'

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
  static override readonly retry: Retry = 'safe'
  static override readonly askElsewhere = true
  constructor(clientId: string, tried: readonly string[]) {
    super('NO_LIVE_REPLICA', `client "${clientId}": none of the nodes in its failover token is reachable (${tried.join(', ') || 'none'})`, { clientId, tried })
  }
}

export class VirtualServerMismatchError extends DomainMeshError {
  constructor(asked: string, owner: string) {
    super('VIRTUAL_SERVER_MISMATCH', `this session belongs to virtual server "${owner}", not "${asked}"`, { asked, owner })
  }
}

/** A backup refused a write from a primary that another node has since replaced. */
export class StaleClientEpochError extends DomainMeshError {
  constructor(clientId: string, from: string, epoch: number, current: { epoch: number; primary: string }) {
    super('STALE_CLIENT_EPOCH', `client "${clientId}": replication from ${from} at epoch ${epoch} is older than epoch ${current.epoch} of ${current.primary}`, { clientId, from, epoch, current: { epoch: current.epoch, primary: current.primary } })
  }
}

/** This node served the client once but another node has taken over; the client tries elsewhere. */
export class ClientMovedError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  static override readonly askElsewhere = true
  constructor(clientId: string) {
    super('CLIENT_MOVED', `client "${clientId}": this node no longer serves the client (a newer primary replaced it)`, { clientId })
  }
}

/** Too few reachable nodes to keep the copies a session write needs; nothing was answered as done. */
export class NotEnoughReplicasError extends DomainMeshError {
  static override readonly retry: Retry = 'unknown'
  constructor(clientId: string, wanted: number, reached: number) {
    super('NOT_ENOUGH_REPLICAS', `client "${clientId}": a session write needs ${wanted} backup(s) but only ${reached} could be reached`, { clientId, wanted, reached })
  }
}

/** The serving node lacks a session and could not ask every node whether one holds it. */
export class SessionUnconfirmedError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(sessionId: string, silent: number, asked: number) {
    super('SESSION_UNCONFIRMED', `session "${sessionId}" is not on this node, and ${silent} of ${asked} nodes did not answer whether they hold it; try again`, { sessionId, silent, asked })
  }
}

/**
 * A backup got a change to a copy it does not hold (it restarted empty, or follows another
 * primary): the primary must check for a newer line and send the whole state instead.
 */
export class CopyMissingError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(clientId: string, from: string) {
    super('COPY_MISSING', `client "${clientId}": this node holds no copy made by ${from} at this epoch; send the whole state`, { clientId, from })
  }
}

/**
 * The request carries an older failover token than one the client has already sent, or none: it
 * may be a late copy of an attempt the client gave up and has since retried elsewhere (held up in
 * a paused node, say), which must not run after the client's later calls. Nothing was done. A
 * client that still waits for the answer takes the newer token in `details.token` and sends the
 * request again.
 */
export class StaleTokenError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(clientId: string, token: unknown) {
    super('STALE_TOKEN', `client "${clientId}": the request carries an older failover token than the client has already used; send it again with the token attached`, { clientId, token })
  }
}
