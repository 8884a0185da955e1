/**
 * A member that holds no cluster secret (issue 34: a trusted tab with a member credential of its
 * own): a member token names the node id it may join as; the service checks it with the
 * operator's public key. Such a member hosts no sessions (it cannot sign failover tokens).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { clusterId, nodeId } from '../../src/ids.js'
import { generateClientKeys, issueClientToken, issueMemberToken, MeshNode, nodeTopologyConnector, startTopologyServer, type TopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'
import { SESSION_ENGINE_TYPE } from '../../src/session/engine.js'
import { waitFor } from '../helpers/wait.js'

const SECRET = 'member-token-secret'
let server: TopologyServer | undefined
const nodes: MeshNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
  await server?.close()
  server = undefined
})

describe('a member token in place of the cluster secret', { timeout: 30_000 }, () => {
  it('admits the node it names, which replicates like any member but hosts no sessions', async () => {
    const operator = await generateClientKeys()
    server = await startTopologyServer({ clusterId: 'mt', secret: SECRET, settings: { domainCount: 8, replicas: 2 }, heartbeatMs: 200, memberAuth: { publicKey: operator.publicKeyPem } })
    const net = new MemoryNetwork({ clock: new RealClock() })
    const node = (name: string, topology: { secret: string } | { token: () => Promise<string> }) => {
      const n = new MeshNode({ clusterId: clusterId('mt'), nodeId: nodeId(name), transport: net.createTransport(), storage: new MemoryStorage(), clock: new RealClock(), topology: { connect: nodeTopologyConnector(server!.url), ...topology } })
      nodes.push(n)
      return n.start()
    }
    const peer = await node('peer', { secret: SECRET })
    const tab = await node('tab-1', { token: () => issueMemberToken(operator.privateKey, { clusterId: 'mt', nodeId: 'tab-1' }) })
    await waitFor(() => peer.health().safe && tab.health().safe && peer.topology.view().members.length === 2, 'both members in the view and healed')
    await tab.store('app').put('k', { v: 1 })
    expect(await peer.store('app').get('k')).toEqual({ v: 1 })
    const tabInfo = peer.topology.view().members.find((m) => m.nodeId === 'tab-1')!
    expect(tabInfo.engines.some((e) => e.engineType === SESSION_ENGINE_TYPE)).toBe(false)
    // A token names one node: not another id, and a client's token is no member's.
    await expect(node('tab-2', { token: () => issueMemberToken(operator.privateKey, { clusterId: 'mt', nodeId: 'tab-1' }) })).rejects.toThrow(/member token is for node "tab-1", not "tab-2"/)
    await expect(node('tab-3', { token: () => issueClientToken(operator.privateKey, { clusterId: 'mt', subject: 'tab-3', access: { '*': 'read-write' } }) })).rejects.toThrow(/does not admit a member/)
    const other = await generateClientKeys()
    await expect(node('tab-4', { token: () => issueMemberToken(other.privateKey, { clusterId: 'mt', nodeId: 'tab-4' }) })).rejects.toThrow(/invalid token/)
  })

  it('is refused where the service has no member key', async () => {
    const operator = await generateClientKeys()
    server = await startTopologyServer({ clusterId: 'mt', secret: SECRET, settings: { domainCount: 8, replicas: 2 } })
    const n = new MeshNode({ clusterId: clusterId('mt'), nodeId: nodeId('tab'), transport: new MemoryNetwork({ clock: new RealClock() }).createTransport(), storage: new MemoryStorage(), clock: new RealClock(), topology: { connect: nodeTopologyConnector(server.url), token: () => issueMemberToken(operator.privateKey, { clusterId: 'mt', nodeId: 'tab' }) } })
    nodes.push(n)
    await expect(n.start()).rejects.toThrow(/admits members by the cluster secret only/)
  })
})
