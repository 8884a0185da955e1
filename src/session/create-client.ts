/** `createClient({ node, virtualServer })`: the session client of a node, in the browser or Node. */
import type { MeshNode } from '../node/mesh-node.js'
import type { SessionClient, SessionClientOptions } from './client.js'

export function createClient(opts: SessionClientOptions & { node: MeshNode }): SessionClient {
  const { node, ...rest } = opts
  return node.sessions(rest)
}
