/**
 * A backup that the primary replaced while it was paused (SIGSTOP) wakes up to a copy that is
 * behind: the primary's last whole copy to it waited in its inbox, and the primary has since
 * written newer versions to the backups that replaced it. If its view still shows the primary
 * down, it must not take the client over from that copy and write it over the newer ones.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import { createClient } from '../../src/index.js'
import { hash32 } from '../../src/util/hash.js'
import { ServiceCluster } from '../helpers/service-cluster.js'

let c: ServiceCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})
const run = <T>(p: Promise<T>) => c!.run(p)

/** A client id for which `first` is the primary's first choice of backup among `others`. */
function clientIdPreferring(first: string, others: string[]): string {
  for (let i = 0; ; i++) {
    const id = `cli-${i}`
    if (others.every((n) => hash32(`${id}:${first}`) > hash32(`${id}:${n}`))) return id
  }
}

describe('a replaced backup with a late copy', () => {
  it('does not take over from it and overwrite the newer copies when its view shows the primary down', async () => {
    c = await ServiceCluster.start(['a', 'b', 'c', 'd'], { replicas: 3 })
    // b last hears of a while a is down, then stops; from here on it learns nothing new for long.
    c.pause('a')
    await c.settle(5000)
    expect(c.node('b').topology.view().members.find((m) => m.nodeId === 'a')?.status).toBe('down')
    c.pause('b')
    c.topologyDelayMs.set('b', 60_000)
    c.resume('a')
    await c.settle(2500)
    // a starts a client with b as its first backup. The whole copy to b waits in b's inbox; once
    // the view shows b down, a gives the client other backups and writes on.
    const client = createClient({ node: c.node('d'), virtualServer: 'shop', clientId: clientIdPreferring('b', ['c', 'd']), serving: nodeId('a') })
    let id: string | undefined
    for (let i = 0; i < 5 && !id; i++) id = await run(client.create({ v: 'one' })).catch(() => undefined)
    expect(id).toBeDefined()
    expect(client.token!.backups).not.toContain('b')
    await run(client.patch(id!, [{ op: 'replace', path: ['v'], value: 'two' }]))
    // b goes on with the late copy while its view still shows a down; then a really dies.
    c.resume('b')
    await c.settle(3000)
    c.crash('a')
    await c.settle(3000)
    expect(await run(client.get(id!))).toEqual({ v: 'two' })
  })
})
