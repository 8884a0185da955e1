/**
 * Sessions over real processes and WebRTC: a session write is on a live backup before its caller
 * hears of it. The session's backup is stopped (SIGSTOP), so a write cannot reach it; the primary
 * must wait until the view marks it down and copy the session to a replacement before it
 * answers. Right after the answer the primary and the stopped backup are killed (kill -9), so
 * nothing still in flight can land anywhere: the replacement alone must serve the write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DomainMeshError } from '../../src/errors.js'
import { nodeId } from '../../src/ids.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import type { SessionClient } from '../../src/session/client.js'
import { PeerCluster } from '../helpers/peer-cluster.js'
import type { PeerProcess } from '../helpers/processes.js'
import { waitFor } from '../helpers/wait.js'

const SECRET = 'sessions-secret'
/** Errors a session call may meet while a backup takes over; anything else ends the test. */
const WHILE_TAKING_OVER = new Set(['NO_LIVE_REPLICA', 'CLIENT_MOVED', 'SESSION_UNCONFIRMED', 'NOT_CONNECTED', 'TIMEOUT', 'NO_ROUTE', 'CLOSED', 'NOT_ENOUGH_REPLICAS', 'OUTCOME_UNKNOWN'])

let c: PeerCluster
let client: MeshNode
let peers: Map<string, PeerProcess>

describe('sessions over real processes', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    c = await PeerCluster.start({ name: 'sessions', peers: ['p1', 'p2', 'p3'], replicas: 2, secret: SECRET })
    ;({ client, peers } = c)
  }, 90_000)

  afterAll(() => c?.close())

  it('a session write answered while its backup is stopped survives kill -9 of the primary and of that backup', async () => {
    // A client served by p1 whose backup is a peer process (the tester hosts sessions too, and
    // cannot be stopped): client ids are tried until the backups drawn by hash are such a peer.
    // p1 draws backups among the peers it is linked to; the tester being linked to every peer
    // does not mean p1 already is (CI once drew the tester 20 times), so the search waits.
    let s: SessionClient | undefined
    let id = ''
    let i = 0
    await waitFor(
      async () => {
        const c = client.sessions({ virtualServer: 'app', clientId: `client-${i++}`, serving: nodeId('p1') })
        id = await c.create({ n: 0 })
        if (c.token!.primary === 'p1' && c.token!.backups.length === 1 && c.token!.backups[0] !== 'tester') s = c
        return s !== undefined
      },
      'a client served by p1 with a peer process as backup',
      20_000,
      50,
    )
    for (let n = 1; n <= 5; n++) await s!.patch(id, [{ op: 'replace', path: ['n'], value: n }])
    const backup = peers.get(s!.token!.backups[0]!)!

    backup.proc.kill('SIGSTOP')
    // Retried until one is acknowledged: before the view marks the backup down the primary may
    // give up (NOT_ENOUGH_REPLICAS). Values rise, so a failed attempt cannot pass for the acked one.
    let acked: number | undefined
    for (let n = 100; acked === undefined; n++) {
      try {
        await s!.patch(id, [{ op: 'replace', path: ['n'], value: n }])
        acked = n
      } catch (err) {
        if (!WHILE_TAKING_OVER.has((err as DomainMeshError).code) || n > 130) throw err
      }
    }
    // At once: whatever the primary still has in flight dies with it.
    peers.get('p1')!.proc.kill('SIGKILL')
    backup.proc.kill('SIGKILL')
    await peers.get('p1')!.kill('SIGKILL')
    await backup.kill('SIGKILL')

    let read: unknown
    await waitFor(
      async () => {
        try {
          read = await s!.get(id)
          return true
        } catch (err) {
          if (WHILE_TAKING_OVER.has((err as DomainMeshError).code)) return false
          throw err
        }
      },
      'the replacement backup to serve the session',
      30_000,
      100,
    )
    expect(read).toEqual({ n: acked })
  })
})
