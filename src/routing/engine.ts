/** What an engine is to the router, and what it is told about one request. */
import type { EngineId, EngineType, NodeId, VirtualServerId } from '../ids.js'
import type { Address } from './address.js'

export interface Request {
  /** The node the request came from (checked against the link it arrived on). */
  readonly fromNode: NodeId
  readonly from: Address
  readonly to: Address
  readonly method: string
  readonly body: unknown
  /** A one-way message: the return value is discarded. */
  readonly oneWay: boolean
}

export interface Engine {
  readonly engineId: EngineId
  readonly engineType: EngineType
  /** The virtual servers this engine serves; '*' serves all. */
  readonly virtualServers: readonly VirtualServerId[] | '*'
  handle(req: Request): unknown
}

/** What a member advertises about an engine (the directory and topology views carry these). */
export interface EngineInfo {
  engineId: EngineId
  engineType: EngineType
  virtualServers: readonly VirtualServerId[] | '*'
}

export interface MemberInfo {
  nodeId: NodeId
  status: 'up' | 'down'
  engines: readonly EngineInfo[]
  /**
   * The member keeps its copies across restarts (a Node peer on files). Absent: ephemeral (a
   * browser tab, memory storage), which placement never leaves as a domain's only replica when a
   * durable member is in the view.
   */
  durable?: boolean
}

/** Who is in the cluster and what they host; fed by the topology manager. */
export interface Directory {
  members(): readonly MemberInfo[]
}

export const serves = (e: EngineInfo, vs: VirtualServerId | undefined): boolean =>
  vs === undefined || e.virtualServers === '*' || e.virtualServers.includes(vs)

export const describeEngine = (e: EngineInfo): EngineInfo => ({
  engineId: e.engineId,
  engineType: e.engineType,
  virtualServers: e.virtualServers === '*' ? '*' : [...e.virtualServers],
})
