/**
 * The failover token every session response carries: who serves the client now, who holds its
 * backups, under which epoch. It is signed with the cluster secret (HMAC-SHA256), so a
 * client can keep and return it but cannot forge or alter it.
 */
import * as v from '../util/schema.js'
import type { NodeId } from '../ids.js'
import { hmacSha256Hex } from '../util/hmac.js'
import { InvalidTokenError } from './errors.js'

export interface FailoverToken {
  clientId: string
  vs: string
  primary: NodeId
  backups: NodeId[]
  /** Raised on every recovery, so an older token never overrides a newer one. */
  epoch: number
  /**
   * Raised on every answer of one primary at one epoch (absent: 0), so that each answer's token
   * is newer than the one the request carried: a request with an older token than the client
   * has already used is a late copy of an attempt the client gave up (see `SessionEngine`).
   */
  seq?: number
  sig: string
}

const Id = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/))
export const TokenSchema = v.object({
  clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  vs: Id,
  primary: Id,
  backups: v.pipe(v.array(Id), v.maxLength(4)),
  epoch: v.pipe(v.number(), v.integer(), v.minValue(0)),
  seq: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  sig: v.pipe(v.string(), v.length(64)),
})

/** A token without `seq` (or 0) signs as tokens did before `seq` existed, so those stay valid. */
const canonical = (t: Omit<FailoverToken, 'sig'>): string => JSON.stringify(t.seq ? [t.clientId, t.vs, t.primary, t.backups, t.epoch, t.seq] : [t.clientId, t.vs, t.primary, t.backups, t.epoch])
const hmac = (secret: string, text: string): string => hmacSha256Hex(`session-token\n${secret}`, text)

export async function signToken(secret: string, t: Omit<FailoverToken, 'sig'>): Promise<FailoverToken> {
  return { ...t, backups: [...t.backups], sig: hmac(secret, canonical(t)) }
}

/** Throws InvalidTokenError unless `raw` is a token this cluster signed, unaltered. */
export async function verifyToken(secret: string, raw: unknown): Promise<FailoverToken> {
  const parsed = v.safeParse(TokenSchema, raw)
  if (!parsed.success) throw new InvalidTokenError(`malformed (${parsed.issues[0]?.path?.map((p) => String(p.key)).join('.') ?? ''}: ${parsed.issues[0]?.message})`)
  const t = parsed.output as FailoverToken
  const expected = hmac(secret, canonical(t))
  let diff = expected.length ^ t.sig.length
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ t.sig.charCodeAt(i)
  if (diff !== 0) throw new InvalidTokenError('bad signature (forged or altered)')
  return t
}
