import { virtualServerId } from '../../src/ids.js'
import type { StoreCluster } from '../helpers/store-cluster.js'

const VS = virtualServerId('shop')

/** A key whose primary is `name` (the first of `prefix`0, `prefix`1, ...). */
export function keyLedBy(cl: StoreCluster, name: string, prefix = 'k'): string {
  const n = cl.node(name)
  for (let i = 0; ; i++) if (n.state.placement(n.state.domainOf(VS, `${prefix}${i}`)).primary === name) return `${prefix}${i}`
}

/** The value of `key` on every node holding a copy (as stored: -0 stays -0 here). */
export function copies(cl: StoreCluster, key: string): unknown[] {
  return [...cl.nodes.values()].map((n) => n.state.readLocal(VS, key)).filter((l) => l.held).map((l) => l.obj?.value)
}
