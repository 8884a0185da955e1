/**
 * A static topology description (JSON): which nodes may join, the cluster's settings, and domains
 * pinned to nodes. Example:
 *   { "clusterId": "shop", "domainCount": 64, "replicas": 2, "healDelayMs": 5000,
 *     "nodes": [ { "nodeId": "n1", "domains": [0, 1] }, { "nodeId": "n2" }, { "nodeId": "n3" } ] }
 * A domain listed by several nodes is placed on them in the order they are listed.
 */
import * as v from '../util/schema.js'
import { DomainMeshError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { ClusterSettings } from '../topology/view.js'

export class StaticTopologyError extends DomainMeshError {
  constructor(why: string) {
    super('BAD_STATIC_TOPOLOGY', `bad static topology: ${why}`)
  }
}

const Id = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 chars of [A-Za-z0-9._-]'))
const Schema = v.object({
  clusterId: Id,
  domainCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4096)), 64),
  replicas: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(5)), 2),
  healDelayMs: v.optional(v.pipe(v.number(), v.minValue(0)), 5000),
  nodes: v.pipe(v.array(v.object({ nodeId: Id, domains: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(0)))) })), v.minLength(1)),
})

export interface StaticTopology {
  clusterId: string
  settings: ClusterSettings
  healDelayMs: number
  allowedNodes: string[]
}

export function parseStaticTopology(input: unknown): StaticTopology {
  const parsed = v.safeParse(Schema, input)
  if (!parsed.success) {
    const issue = parsed.issues[0]!
    const path = issue.path?.map((p) => String(p.key)).join('.')
    throw new StaticTopologyError(`${path ? `${path}: ` : ''}${issue.message}`)
  }
  const t = parsed.output
  const ids = t.nodes.map((n) => n.nodeId)
  if (new Set(ids).size !== ids.length) throw new StaticTopologyError('a node is listed twice')
  const pins: Record<number, NodeId[]> = {}
  for (const n of t.nodes) {
    for (const d of n.domains ?? []) {
      if (d >= t.domainCount) throw new StaticTopologyError(`node ${n.nodeId} pins domain ${d}, but there are only ${t.domainCount}`)
      ;(pins[d] ??= []).push(n.nodeId as NodeId)
    }
  }
  const settings: ClusterSettings = { domainCount: t.domainCount, replicas: t.replicas, ...(Object.keys(pins).length ? { pins } : {}) }
  return { clusterId: t.clusterId, settings, healDelayMs: t.healDelayMs, allowedNodes: ids }
}
