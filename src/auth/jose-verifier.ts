/**
 * Client tokens checked with `jose` (Node: the topology service and Node members). Kept out of the
 * browser entry: it would add 60 kB minified to every browser app, which only carries tokens.
 */
import { importJWK, importSPKI, jwtVerify } from 'jose'
import { DEFAULT_ALGORITHMS, UnauthorizedError, type ClientAuthOptions, type JwtVerifier } from './credentials.js'
import { serveClients as serve, type ClientDoorway, type GateContext } from './gate.js'

export function joseVerifier(publicKey: ClientAuthOptions['publicKey'], algorithms: string[] = DEFAULT_ALGORITHMS): JwtVerifier {
  let key: Promise<unknown> | undefined
  return async (token, { audience, now }) => {
    key ??= importKey(publicKey, algorithms)
    try {
      const { payload } = await jwtVerify(token, (await key) as Parameters<typeof jwtVerify>[1], { algorithms, audience, requiredClaims: ['sub', 'exp'], currentDate: new Date(now) })
      return payload as Record<string, unknown>
    } catch (err) {
      if (err instanceof UnauthorizedError) throw err
      const e = err as { code?: string; message?: string }
      throw new UnauthorizedError(e.code === 'ERR_JWT_EXPIRED' ? 'token expired' : `invalid token (${e.message ?? String(err)})`)
    }
  }
}

/** With `verifyJwt` filled in from the key, unless one was given. */
export const withJose = <T extends ClientAuthOptions | undefined>(auth: T): T => (auth && !auth.verifyJwt ? { ...auth, verifyJwt: joseVerifier(auth.publicKey, auth.algorithms) } : auth)

async function importKey(key: ClientAuthOptions['publicKey'], algorithms: string[]): Promise<unknown> {
  if (typeof key === 'string') {
    // A PEM names no algorithm: take the first one listed that the key fits.
    let last: unknown
    for (const alg of algorithms) {
      try {
        return await importSPKI(key, alg)
      } catch (err) {
        last = err
      }
    }
    throw new UnauthorizedError(`the configured public key cannot be used: ${(last as Error)?.message}`)
  }
  if (typeof key === 'object' && key !== null && 'kty' in key) return importJWK(key as Parameters<typeof importJWK>[0], (key as { alg?: string }).alg ?? algorithms[0])
  return key
}

/** `serveClients` for Node: tokens are checked with jose unless `verifyJwt` is given. */
export const serveClients = (auth: ClientAuthOptions): ((ctx: GateContext) => ClientDoorway) => serve(withJose(auth))
