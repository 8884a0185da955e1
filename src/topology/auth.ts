/**
 * Admission proof: HMAC-SHA256 with the cluster secret over the cluster id, node id, a timestamp
 * and a nonce. WebCrypto makes it the same code in browsers and Node. The service also checks the
 * timestamp window and refuses a nonce it has seen, so a captured hello cannot be replayed.
 */
const encoder = new TextEncoder()

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)))
  return Array.from(sig, (b) => b.toString(16).padStart(2, '0')).join('')
}

export const proofMessage = (clusterId: string, nodeId: string, ts: number, nonce: string): string => `domainmesh-hello\n${clusterId}\n${nodeId}\n${ts}\n${nonce}`

export function helloProof(secret: string, clusterId: string, nodeId: string, ts: number, nonce: string): Promise<string> {
  return hmacHex(secret, proofMessage(clusterId, nodeId, ts, nonce))
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
