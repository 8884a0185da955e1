/**
 * The app server's side of client credentials: a key pair, and tokens signed with its private key.
 * An app's auth endpoint calls `issueClientToken` for a user it has authenticated its own way; the
 * cluster (topology service and members) gets only the public key.
 */
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { Access } from './credentials.js'

export interface ClientKeys {
  /** For the app's auth endpoint only: never ship it to a browser. */
  privateKey: CryptoKey
  /** For the topology service and the members (`clients: { publicKey }`), as PEM (SPKI). */
  publicKeyPem: string
  publicKeyJwk: JsonWebKey
}

/** A fresh ES256 key pair (P-256: in every browser's WebCrypto and in Node). */
export async function generateClientKeys(): Promise<ClientKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  return { privateKey, publicKeyPem: await exportSPKI(publicKey), publicKeyJwk: await exportJWK(publicKey) }
}

export interface ClientTokenClaims {
  clusterId: string
  /** The user. */
  subject: string
  /** Virtual server → 'read' | 'read-write'; '*' for every one. */
  access: Record<string, Access>
  /** Lifetime in seconds (default 600). */
  ttlS?: number
  /** Seconds since the epoch to count from (default now; tests pass their clock). */
  now?: number
}

export async function issueClientToken(privateKey: CryptoKey, claims: ClientTokenClaims): Promise<string> {
  const now = claims.now ?? Math.floor(Date.now() / 1000)
  return new SignJWT({ role: 'client', vs: claims.access })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject(claims.subject)
    .setAudience(claims.clusterId)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttlS ?? 600))
    .sign(privateKey)
}

/**
 * A member token: lets a node join as member `nodeId` without the cluster secret (a browser tab
 * the deployment trusts), where the topology service has `memberAuth` with the matching public
 * key. Sign it with an operator's key, not the app's client key: a member holds replicas of
 * every virtual server.
 */
export async function issueMemberToken(privateKey: CryptoKey, claims: { clusterId: string; nodeId: string; ttlS?: number; now?: number }): Promise<string> {
  const now = claims.now ?? Math.floor(Date.now() / 1000)
  return new SignJWT({ role: 'member' })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject(claims.nodeId)
    .setAudience(claims.clusterId)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttlS ?? 3600))
    .sign(privateKey)
}
