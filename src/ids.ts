/**
 * Branded identifiers. A plain string cannot be passed where a NodeId is expected, so a mix-up of
 * cluster, node, engine and virtual-server names is a compile error rather than a routing bug.
 */
import { InvalidIdError } from './errors.js'

declare const brand: unique symbol
export type Brand<T, B extends string> = T & { readonly [brand]: B }

export type ClusterId = Brand<string, 'ClusterId'>
export type NodeId = Brand<string, 'NodeId'>
export type EngineId = Brand<string, 'EngineId'>
export type EngineType = Brand<string, 'EngineType'>
export type VirtualServerId = Brand<string, 'VirtualServerId'>

/** Ids travel in addresses ("cluster/node/engine") and file names, so they exclude '/', ':' and spaces. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

function check(kind: string, value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new InvalidIdError(kind, value)
  }
  return value
}

export const clusterId = (v: string): ClusterId => check('clusterId', v) as ClusterId
export const nodeId = (v: string): NodeId => check('nodeId', v) as NodeId
export const engineId = (v: string): EngineId => check('engineId', v) as EngineId
export const engineType = (v: string): EngineType => check('engineType', v) as EngineType
export const virtualServerId = (v: string): VirtualServerId => check('virtualServerId', v) as VirtualServerId

export const isValidId = (v: unknown): v is string => typeof v === 'string' && ID_PATTERN.test(v)

/** A random node id, used when a node starts on empty storage (it is persisted afterwards). */
export function randomNodeId(random: () => number = Math.random): NodeId {
  let s = 'n-'
  for (let i = 0; i < 10; i++) s += Math.floor(random() * 36).toString(36)
  return s as NodeId
}
