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
 * Verification is `jose`'s, loaded only when a node first verifies a token: a browser client,
 * which only carries its token, never loads it.
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
  const access = credential.access[virtualServer] ?? credential.access['*']
  if (!access) return false
  return access === 'read-write' || op === 'read' || op === 'subscribe' || op === 'session-read'
}

/**
 * The public key tokens are verified with: a PEM SPKI string, a JWK, or a CryptoKey / KeyObject.
 * `algorithms`: the JWS algorithms taken (default ES256 and EdDSA; never 'none' or HMAC).
 */
export interface ClientAuthOptions {
  publicKey: string | JsonWebKey | CryptoKey | object
  algorithms?: string[]
  /** Decides each client call (default `scopesAuthorize`). */
  authorize?: Authorize
}

const DEFAULT_ALGORITHMS = ['ES256', 'EdDSA']
const MAX_TOKEN_LENGTH = 8192

/**
 * Verifies client tokens against one public key. The key is imported once; `now` is the node's
 * clock (ms), so a simulated clock decides expiry in tests.
 */
export class TokenVerifier {
  private key: Promise<unknown> | undefined

  constructor(
    private readonly opts: ClientAuthOptions,
    private readonly clusterId: string,
    private readonly now: () => number,
  ) {}

  async verify(token: unknown): Promise<Credential> {
    if (typeof token !== 'string' || token.length === 0) throw new UnauthorizedError('no token')
    if (token.length > MAX_TOKEN_LENGTH) throw new UnauthorizedError(`token longer than ${MAX_TOKEN_LENGTH} characters`)
    const jose = await import('jose')
    const algorithms = this.opts.algorithms ?? DEFAULT_ALGORITHMS
    this.key ??= importKey(jose, this.opts.publicKey, algorithms)
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jose.jwtVerify(token, (await this.key) as Parameters<typeof jose.jwtVerify>[1], {
        algorithms,
        audience: this.clusterId,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(this.now()),
      }))
    } catch (err) {
      const e = err as { code?: string; message?: string }
      throw new UnauthorizedError(e.code === 'ERR_JWT_EXPIRED' ? 'token expired' : `invalid token (${e.message ?? String(err)})`)
    }
    return toCredential(payload)
  }
}

async function importKey(jose: typeof import('jose'), key: ClientAuthOptions['publicKey'], algorithms: string[]): Promise<unknown> {
  if (typeof key === 'string') {
    // A PEM names no algorithm: take the first one listed that the key fits.
    let last: unknown
    for (const alg of algorithms) {
      try {
        return await jose.importSPKI(key, alg)
      } catch (err) {
        last = err
      }
    }
    throw new UnauthorizedError(`the configured public key cannot be used: ${(last as Error)?.message}`)
  }
  if (typeof key === 'object' && key !== null && 'kty' in key) return jose.importJWK(key as Parameters<typeof jose.importJWK>[0], (key as { alg?: string }).alg ?? algorithms[0])
  return key
}

function toCredential(payload: Record<string, unknown>): Credential {
  const role = payload.role ?? 'client'
  if (role !== 'client') throw new UnauthorizedError(`a token of role ${JSON.stringify(role)} admits nothing here (members prove the cluster secret)`)
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
