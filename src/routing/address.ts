/**
 * Addresses. An exact address names one engine: `cluster/node/engine`. A partial address lets the
 * router pick any engine of a type: `cluster/*\/engineType`. Either may end in `@virtualServer`;
 * then only an engine that serves that virtual server matches.
 */
import { InvalidAddressError } from '../errors.js'
import {
  isValidId,
  type ClusterId,
  type EngineId,
  type EngineType,
  type NodeId,
  type VirtualServerId,
} from '../ids.js'

export interface ExactAddress {
  readonly clusterId: ClusterId
  readonly nodeId: NodeId
  readonly engineId: EngineId
  readonly virtualServerId?: VirtualServerId | undefined
}

export interface PartialAddress {
  readonly clusterId: ClusterId
  readonly engineType: EngineType
  readonly virtualServerId?: VirtualServerId | undefined
}

export type Address = ExactAddress | PartialAddress

export const isExact = (a: Address): a is ExactAddress => 'nodeId' in a

export function formatAddress(a: Address): string {
  const base = isExact(a) ? `${a.clusterId}/${a.nodeId}/${a.engineId}` : `${a.clusterId}/*/${a.engineType}`
  return a.virtualServerId ? `${base}@${a.virtualServerId}` : base
}

export function parseAddress(input: string): Address {
  if (typeof input !== 'string') throw new InvalidAddressError(input, 'expected a string')
  const at = input.indexOf('@')
  const path = at < 0 ? input : input.slice(0, at)
  const vs = at < 0 ? undefined : input.slice(at + 1)
  const parts = path.split('/')
  if (parts.length !== 3) throw new InvalidAddressError(input, 'expected cluster/node/engine or cluster/*/engineType')
  const [c, n, e] = parts as [string, string, string]
  if (!isValidId(c)) throw new InvalidAddressError(input, 'bad cluster id')
  if (n !== '*' && !isValidId(n)) throw new InvalidAddressError(input, 'bad node id')
  if (!isValidId(e)) throw new InvalidAddressError(input, n === '*' ? 'bad engine type' : 'bad engine id')
  if (vs !== undefined && !isValidId(vs)) throw new InvalidAddressError(input, 'bad virtual server id')
  const virtualServerId = vs as VirtualServerId | undefined
  if (n === '*') {
    return { clusterId: c as ClusterId, engineType: e as EngineType, ...(vs ? { virtualServerId } : {}) }
  }
  return { clusterId: c as ClusterId, nodeId: n as NodeId, engineId: e as EngineId, ...(vs ? { virtualServerId } : {}) }
}
