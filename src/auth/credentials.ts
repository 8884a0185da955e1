/**
 * Per-user credentials for clients: the app's own server signs a short-lived JWT with its private
 * key (asymmetric, so members and the topology service verify with the public key only and hold
 * nothing that could mint one). Its claims:
 *
 *   sub   the user (the subject every authorization decision and every session is bound to)
 *   role  'client' (the only role a token admits today; members prove the cluster secret)
 *   vs    { [virtualServer]: 'read' | 'read-write' }; the key '*' stands for every virtual server
 *   aud   the cluster id
 *   exp   expiry (required)
 *
 * Verification is `jose`'s (jose-verifier.ts), which the Node entry and the topology service plug
 * in: it would add 60 kB to a browser bundle, and a browser client only carries its token. A
 * browser member that serves clients passes its own `verifyJwt`.
 */
import { DomainMeshError } from '../errors.js'

/** No valid credential: missing, malformed, badly signed, for another cluster, or expired. Final for this token; a fresh one may pass. */
export class UnauthorizedError extends DomainMeshError {
  constructor(why: string) {
    super('UNAUTHORIZED', `unauthorized: ${why}`, { why })
  }
}

/** A valid credential that does not allow this call. */
export class ForbiddenError extends DomainMeshError {
  constructor(subject: string, op: string, virtualServer: string, key?: string) {
    super('FORBIDDEN', `forbidden: ${subject} may not ${op} ${key === undefined ? `in "${virtualServer}"` : `"${key}" in "${virtualServer}"`}`, { subject, op, virtualServer, ...(key === undefined ? {} : { key }) })
  }
}

export type Access = 'read' | 'read-write'

/** What a verified token says. */
export interface Credential {
  subject: string
  role: 'client'
  /** Virtual server → access; '*' for every virtual server. */
  access: Readonly<Record<string, Access>>
  /** Ms since the epoch. */
  expiresAt: number
}

/** What a client asks a member to do. Session calls are `session-read` (get) or `session-write`. */
export type Operation = 'read' | 'write' | 'subscribe' | 'session-read' | 'session-write'

export interface AuthorizeRequest {
  subject: string
  virtualServer: string
  /** The store key (absent for a prefix subscription: `prefix` then), or the session id. */
  key?: string
  prefix?: string
  op: Operation
  credential: Credential
}

/** The member's decision on one client call: true allows it. */
export type Authorize = (req: AuthorizeRequest) => boolean | Promise<boolean>

/** The default: what the token's `vs` claim grants. */
export const scopesAuthorize: Authorize = ({ virtualServer, op, credential }) => {
  // Own keys only: `constructor` or `toString` must not read as a granted virtual server.
  const access = Object.hasOwn(credential.access, virtualServer) ? credential.access[virtualServer] : Object.hasOwn(credential.access, '*') ? credential.access['*'] : undefined
  if (!access) return false
  return access === 'read-write' || op === 'read' || op === 'subscribe' || op === 'session-read'
}

/**
 * Checks a JWT's signature with the configured key, its audience (the cluster id) and its expiry
 * (at `now`, ms); resolves with its payload, or rejects with UnauthorizedError saying why.
 */
export type JwtVerifier = (token: string, check: { audience: string; now: number }) => Promise<Record<string, unknown>>

/**
 * The public key tokens are verified with: a PEM SPKI string, a JWK, or a CryptoKey / KeyObject.
 * `algorithms`: the JWS algorithms taken (default ES256 and EdDSA; never 'none' or HMAC).
 */
export interface ClientAuthOptions {
  publicKey: string | JsonWebKey | CryptoKey | object
  algorithms?: string[]
  /** Decides each client call (default `scopesAuthorize`). */
  authorize?: Authorize
  /** How a token is checked against `publicKey`: the Node entry plugs in jose's (jose-verifier.ts). */
  verifyJwt?: JwtVerifier
}

export const DEFAULT_ALGORITHMS = ['ES256', 'EdDSA']
const MAX_TOKEN_LENGTH = 8192

/** A browser member asked to serve clients without a way to check their tokens. */
export class NoJwtVerifierError extends DomainMeshError {
  constructor() {
    super('NO_JWT_VERIFIER', 'serving clients needs a JWT verifier: the Node entry plugs in jose; in a browser pass clients.verifyJwt (docs/clients.md)')
  }
}

/** Verifies client tokens; `now` is the node's clock (ms), so a simulated clock decides expiry in tests. */
export class TokenVerifier {
  private readonly verifyJwt: JwtVerifier

  constructor(
    opts: ClientAuthOptions,
    private readonly clusterId: string,
    private readonly now: () => number,
  ) {
    if (!opts.verifyJwt) throw new NoJwtVerifierError()
    this.verifyJwt = opts.verifyJwt
  }

  /** A client's token: its credential. */
  async verify(token: unknown): Promise<Credential> {
    return toCredential(await this.payload(token))
  }

  /** A member's token (role 'member'; its subject is the node id it may join as). */
  async verifyMember(token: unknown): Promise<{ nodeId: string; expiresAt: number }> {
    const p = await this.payload(token)
    if (p.role !== 'member') throw new UnauthorizedError(`a token of role ${JSON.stringify(p.role ?? 'client')} does not admit a member`)
    if (typeof p.sub !== 'string' || p.sub === '') throw new UnauthorizedError('the member token has no subject (sub: the node id)')
    return { nodeId: p.sub, expiresAt: (p.exp as number) * 1000 }
  }

  private async payload(token: unknown): Promise<Record<string, unknown>> {
    if (typeof token !== 'string' || token.length === 0) throw new UnauthorizedError('no token')
    if (token.length > MAX_TOKEN_LENGTH) throw new UnauthorizedError(`token longer than ${MAX_TOKEN_LENGTH} characters`)
    return this.verifyJwt(token, { audience: this.clusterId, now: this.now() })
  }
}

function toCredential(payload: Record<string, unknown>): Credential {
  const role = payload.role ?? 'client'
  if (role !== 'client') throw new UnauthorizedError(`a token of role ${JSON.stringify(role)} does not admit a client`)
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw new UnauthorizedError('the token has no usable subject (sub)')
  const vs = payload.vs ?? {}
  if (typeof vs !== 'object' || vs === null || Array.isArray(vs)) throw new UnauthorizedError('the token\'s vs claim is not an object')
  const access: Record<string, Access> = {}
  for (const [name, a] of Object.entries(vs)) {
    if (a !== 'read' && a !== 'read-write') throw new UnauthorizedError(`the token grants ${JSON.stringify(a)} on "${name}": expected "read" or "read-write"`)
    access[name] = a
  }
  return { subject: payload.sub, role: 'client', access, expiresAt: (payload.exp as number) * 1000 }
}
