/**
 * A member's hello, checked the same way by the embedded service and by each etcd instance: the
 * cluster and id, the static topology, a timestamp near the service's clock and a nonce not seen
 * before (no replay), and then its credential: the HMAC proof of the cluster secret, or a member
 * token (a JWT with role 'member' and the node id as subject, signed by the holder of
 * `memberAuth`'s key), for a member that should not hold the secret (a trusted browser tab).
 */
import { isValidId } from '../ids.js'
import { TokenVerifier, type ClientAuthOptions } from '../auth/credentials.js'
import { withJose } from '../auth/jose-verifier.js'
import { verifyProof } from '../topology/auth.js'
import type { HelloMessage } from '../topology/protocol.js'
import type { Clock } from '../util/clock.js'

export interface HelloRules {
  clusterId: string
  secret: string
  clock: Clock
  allowedNodes?: readonly string[] | undefined
  helloWindowMs?: number | undefined
  /** Admits members with tokens signed by this key's holder, besides the cluster secret. */
  memberAuth?: ClientAuthOptions | undefined
  /** Whether an id is a client's now (a member may not take it). */
  isClient: (id: string) => boolean
}

export class HelloCheck {
  private readonly nonces = new Map<string, number>()
  private readonly members: TokenVerifier | undefined

  constructor(private readonly rules: HelloRules) {
    this.members = rules.memberAuth && new TokenVerifier(withJose(rules.memberAuth), rules.clusterId, () => rules.clock.now())
  }

  /** Why the hello is refused, or undefined when it is admitted. */
  async check(h: HelloMessage): Promise<string | undefined> {
    const r = this.rules
    if (h.clusterId !== r.clusterId) return `wrong cluster "${h.clusterId}"`
    if (!isValidId(h.nodeId)) return `invalid node id "${h.nodeId}"`
    if (r.isClient(h.nodeId)) return `node id "${h.nodeId}" is a client's`
    if (r.allowedNodes && !r.allowedNodes.includes(h.nodeId)) return `node "${h.nodeId}" is not in the static topology`
    const now = r.clock.now()
    const window = r.helloWindowMs ?? 120_000
    if (Math.abs(now - h.ts) > window) return 'hello timestamp too far from the service clock'
    for (const [n, at] of this.nonces) if (now - at > 2 * window) this.nonces.delete(n)
    if (this.nonces.has(h.nonce)) return 'replayed hello (nonce already used)'
    if (h.token !== undefined) {
      if (!this.members) return 'this cluster admits members by the cluster secret only (the topology service has no member key)'
      try {
        const member = await this.members.verifyMember(h.token)
        if (member.nodeId !== h.nodeId) return `the member token is for node "${member.nodeId}", not "${h.nodeId}"`
      } catch (err) {
        return (err as Error).message
      }
    } else if (h.proof === undefined || !(await verifyProof(r.secret, h.clusterId, h.nodeId, h.ts, h.nonce, h.proof))) return 'bad proof: wrong cluster secret'
    this.nonces.set(h.nonce, now)
    return undefined
  }
}
