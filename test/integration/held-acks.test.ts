/**
 * A store write over real processes is acknowledged only once every owner the view lists holds
 * it. The domain's backup is stopped (SIGSTOP), so it cannot ack; the primary may answer only
 * after the view has dropped that backup from the owners. Right after the answer the primary and
 * the stopped backup are killed (kill -9), so nothing still in flight can land anywhere, and the
 * backup comes back alone on its data folder: it must never serve its older copy. Once the
 * primary is back too, the write must be there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DomainMeshError } from '../../src/errors.js'
import { virtualServerId, type NodeId } from '../../src/ids.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import { PeerCluster } from '../helpers/peer-cluster.js'
import type { PeerProcess } from '../helpers/processes.js'
import { sleep, waitFor } from '../helpers/wait.js'

const SECRET = 'held-acks-secret'
const VS = virtualServerId('shop')
const PROCESSES = ['p1', 'p2', 'p3']

let c: PeerCluster
let client: MeshNode
let peers: Map<string, PeerProcess>

const startPeer = (name: string) => c.startPeer(name)

const status = (n: NodeId) => client.topology.view().members.find((m) => m.nodeId === n)?.status

describe('store acknowledgements over real processes', { timeout: 150_000 }, () => {
  beforeAll(async () => {
    c = await PeerCluster.start({ name: 'held-acks', peers: PROCESSES, replicas: 2, secret: SECRET })
    ;({ client, peers } = c)
  }, 120_000)

  afterAll(() => c?.close())

  it('a write answered while its backup is stopped: after kill -9 of the primary and that backup, the backup back alone never serves its older copy', async () => {
    const s = client.store(VS)
    // A key whose two owners are peer processes (the tester may own domains too, and cannot be stopped).
    // Looked for until healing has settled the owners (a busy machine may still be copying).
    const pick = () =>
      Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => {
        const roles = client.state.placement(client.state.domainOf(VS, k))
        return roles.owners.length === 2 && roles.owners.every((o) => PROCESSES.includes(o)) && roles.backups.length === 1
      })
    await waitFor(() => pick() !== undefined, 'a key owned by two peer processes', 30_000, 50)
    const key = pick()
    const roles = client.state.placement(client.state.domainOf(VS, key!))
    const primary = roles.primary!
    const backup = roles.backups[0]!
    await s.put(key!, { v: 1 })
    await s.put(key!, { v: 2 })

    peers.get(backup)!.proc.kill('SIGSTOP')
    // Retried until one is acknowledged (a call may time out while the view changes); values
    // rise, so an attempt that failed but was applied cannot pass for the acknowledged one.
    let acked: number | undefined
    for (let v = 3; acked === undefined; v++) {
      try {
        await s.put(key!, { v })
        acked = v
      } catch (err) {
        if (v > 10) throw err
      }
    }
    // At once: whatever the primary still has in flight dies with it.
    peers.get(primary)!.proc.kill('SIGKILL')
    peers.get(backup)!.proc.kill('SIGKILL')
    await peers.get(primary)!.kill('SIGKILL')
    await peers.get(backup)!.kill('SIGKILL')
    await waitFor(() => status(primary) === 'down', `${primary} marked down`, 20_000, 20)

    await startPeer(backup)
    await waitFor(() => status(backup) === 'up', `${backup} back in the view`, 20_000, 20)
    // The backup alone: its copy lacks the acknowledged write, so a read may fail or wait, but
    // must never answer with the older value.
    const alone: string[] = []
    const wrong: string[] = []
    const until = Date.now() + 3000
    while (Date.now() < until && wrong.length === 0) {
      try {
        const got = JSON.stringify((await s.get<{ v: number }>(key!)) ?? null)
        alone.push(got)
        if (got !== JSON.stringify({ v: acked })) wrong.push(got)
      } catch (err) {
        alone.push((err as DomainMeshError).code ?? String(err))
        await sleep(100)
      }
    }
    expect(wrong, `reads while only ${backup} was back (acknowledged: v ${acked}): ${alone.join(', ')}`).toEqual([])

    await startPeer(primary)
    let got: unknown
    await waitFor(
      async () => {
        try {
          got = await s.get(key!)
          return true
        } catch {
          return false
        }
      },
      `a read of ${key} once ${primary} is back`,
      40_000,
      100,
    )
    expect(got).toEqual({ v: acked })
  })
})
