/**
 * startTopologyServer as the API meets it: settings may be left out (the defaults apply, and a node
 * joins), and a mistake in the options is an error at start, the secret under the CLI's rule.
 */
import { describe, expect, it } from 'vitest'
import { InvalidOptionError } from '../../src/errors.js'
import { clusterId, nodeId } from '../../src/ids.js'
import { MeshNode } from '../../src/node/mesh-node.js'
import { InvalidSettingsError } from '../../src/node/settings.js'
import { nodeTopologyConnector, startTopologyServer } from '../../src/node.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { DEFAULT_SETTINGS } from '../../src/topology/view.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { RealClock } from '../../src/util/clock.js'

describe('startTopologyServer options', () => {
  it('without settings it uses the defaults, and a node joins and writes', async () => {
    const server = await startTopologyServer({ clusterId: 'dflt', secret: 'eight-chars' })
    const clock = new RealClock()
    const node = new MeshNode({ clusterId: clusterId('dflt'), nodeId: nodeId('n1'), clock, transport: new MemoryNetwork({ clock }).createTransport(), storage: new MemoryStorage(), topology: { connect: nodeTopologyConnector(server.url), secret: 'eight-chars' } })
    try {
      await node.start()
      await node.ready()
      expect(node.settings).toEqual(DEFAULT_SETTINGS)
      expect((await node.store('app').put('k', 1)).replicas).toBe(1)
    } finally {
      await node.close()
      await server.close()
    }
  })

  it('refuses at start a short secret (as the CLI does, without echoing it), a bad port and bad settings', async () => {
    const short = await startTopologyServer({ clusterId: 'x', secret: 'abc' }).catch((e: unknown) => e)
    expect(short).toBeInstanceOf(InvalidOptionError)
    expect((short as Error).message).toMatch(/secret: expected a string of at least 8 characters/)
    expect((short as Error).message).not.toMatch(/abc/)
    await expect(startTopologyServer({ clusterId: 'x', secret: 'long-enough', port: 70_000 })).rejects.toBeInstanceOf(InvalidOptionError)
    await expect(startTopologyServer({ clusterId: 'x', secret: 'long-enough', settings: { replicas: 0 } })).rejects.toBeInstanceOf(InvalidSettingsError)
    await expect(startTopologyServer({ clusterId: 'x', secret: 'long-enough', heartbeatMs: -1 })).rejects.toBeInstanceOf(InvalidOptionError)
    // etcd keeps the state: a state file beside it is refused before anything connects.
    await expect(startTopologyServer({ clusterId: 'x', secret: 'long-enough', stateFile: '/tmp/never-written', etcd: { hosts: ['http://127.0.0.1:1'] } })).rejects.toBeInstanceOf(InvalidOptionError)
  })
})
