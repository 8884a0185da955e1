/**
 * Admission proof: HMAC-SHA256 with the cluster secret over the cluster id, node id, a timestamp
 * and a nonce (the same code in browsers and Node). The service also checks the timestamp window
 * and refuses a nonce it has seen, so a captured hello cannot be replayed.
 */
import { hmacSha256Hex } from '../util/hmac.js'

/** The shortest cluster secret the CLI and `startTopologyServer` take. */
export const MIN_SECRET_LENGTH = 8

export const proofMessage = (clusterId: string, nodeId: string, ts: number, nonce: string): string => `domainmesh-hello\n${clusterId}\n${nodeId}\n${ts}\n${nonce}`

export async function helloProof(secret: string, clusterId: string, nodeId: string, ts: number, nonce: string): Promise<string> {
  return hmacSha256Hex(secret, proofMessage(clusterId, nodeId, ts, nonce))
}

export async function verifyProof(secret: string, clusterId: string, nodeId: string, ts: number, nonce: string, proof: string): Promise<boolean> {
  const expected = await helloProof(secret, clusterId, nodeId, ts, nonce)
  if (proof.length !== expected.length) return false
  let diff = 0
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ proof.charCodeAt(i)
  return diff === 0
}

export function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
