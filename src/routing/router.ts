/**
 * Picks where a request goes. An exact address goes to that engine; a partial one goes to a local
 * engine of that type (and virtual server) if there is one, else to an up member that advertises
 * one. An exact address needs a known member we have a link to, whatever its status in the view. When nothing matches, the NoRouteError names the part that did not: cluster, node, engine,
 * engine type or virtual server.
 */
import { DomainMeshError, NoRouteError } from '../errors.js'
import type { ClusterId, EngineId, NodeId } from '../ids.js'
import { formatAddress, isExact, type Address, type ExactAddress, type PartialAddress } from './address.js'
import { describeEngine, serves, type Directory, type Engine, type EngineInfo } from './engine.js'

export type Route = { kind: 'local'; engine: Engine } | { kind: 'remote'; nodeId: NodeId; address: ExactAddress }

export class DuplicateEngineError extends DomainMeshError {
  constructor(id: EngineId) {
    super('DUPLICATE_ENGINE', `an engine with id "${id}" is already registered on this node`)
  }
}

export class Router {
  private readonly engines = new Map<EngineId, Engine>()

  constructor(
    readonly clusterId: ClusterId,
    readonly nodeId: NodeId,
    private readonly directory: Directory,
    /** Peers we can reach right now; a member we have no link to is not a route. */
    private readonly reachable: (node: NodeId) => boolean,
  ) {}

  register(engine: Engine): () => void {
    if (this.engines.has(engine.engineId)) throw new DuplicateEngineError(engine.engineId)
    this.engines.set(engine.engineId, engine)
    return () => {
      if (this.engines.get(engine.engineId) === engine) this.engines.delete(engine.engineId)
    }
  }

  localEngines(): EngineInfo[] {
    return [...this.engines.values()].map(describeEngine)
  }

  /** Resolves for a request arriving from the network: only local engines qualify (no forwarding). */
  resolveLocal(to: Address): Engine {
    const route = this.resolve(to, false)
    if (route.kind !== 'local') throw new NoRouteError('node', isExact(to) ? to.nodeId : '*', formatAddress(to))
    return route.engine
  }

  resolve(to: Address, allowRemote = true): Route {
    if (to.clusterId !== this.clusterId) throw new NoRouteError('cluster', to.clusterId, formatAddress(to))
    return isExact(to) ? this.resolveExact(to, allowRemote) : this.resolvePartial(to, allowRemote)
  }

  private resolveExact(to: ExactAddress, allowRemote: boolean): Route {
    // The address is formatted only for an error: every request is routed, and a string each was garbage.
    if (to.nodeId === this.nodeId) {
      const engine = this.engines.get(to.engineId)
      if (!engine) throw new NoRouteError('engine', to.engineId, formatAddress(to))
      if (!serves(engine, to.virtualServerId)) throw new NoRouteError('virtualServer', to.virtualServerId ?? '', formatAddress(to))
      return { kind: 'local', engine }
    }
    // A member the view calls down but that we still have a link to is reachable: a node cut off
    // from the topology service must still hear the nack that fences it.
    const member = this.directory.members().find((m) => m.nodeId === to.nodeId)
    if (!allowRemote || !member || !this.reachable(to.nodeId)) throw new NoRouteError('node', to.nodeId, formatAddress(to))
    const info = member.engines.find((e) => e.engineId === to.engineId)
    if (!info) throw new NoRouteError('engine', to.engineId, formatAddress(to))
    if (!serves(info, to.virtualServerId)) throw new NoRouteError('virtualServer', to.virtualServerId ?? '', formatAddress(to))
    return { kind: 'remote', nodeId: to.nodeId, address: to }
  }

  private resolvePartial(to: PartialAddress, allowRemote: boolean): Route {
    let typeSeen = false
    for (const engine of this.engines.values()) {
      if (engine.engineType !== to.engineType) continue
      typeSeen = true
      if (serves(engine, to.virtualServerId)) return { kind: 'local', engine }
    }
    if (allowRemote) {
      for (const m of this.directory.members()) {
        if (m.nodeId === this.nodeId || m.status !== 'up' || !this.reachable(m.nodeId)) continue
        for (const e of m.engines) {
          if (e.engineType !== to.engineType) continue
          typeSeen = true
          if (serves(e, to.virtualServerId)) {
            return { kind: 'remote', nodeId: m.nodeId, address: { clusterId: to.clusterId, nodeId: m.nodeId, engineId: e.engineId, virtualServerId: to.virtualServerId } }
          }
        }
      }
    }
    if (typeSeen) throw new NoRouteError('virtualServer', to.virtualServerId ?? '', formatAddress(to))
    throw new NoRouteError('engineType', to.engineType, formatAddress(to))
  }
}
