/**
 * A node fed garbage keeps serving: every bad frame is counted with a reason and dropped, and a
 * peer that keeps sending them is cut off.
 */
import fc from 'fast-check'
import { pack } from 'msgpackr'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeId } from '../../src/ids.js'
import type { MeshNode } from '../../src/node/mesh-node.js'
import { parseAddress } from '../../src/routing/address.js'
import type { MemoryTransport } from '../../src/transport/memory.js'
import { flushMicrotasks } from '../../src/util/clock.js'
import { decodeFrame } from '../../src/wire/codec.js'
import { PROTOCOL_VERSION } from '../../src/wire/envelope.js'
import { echoEngine, memoryCluster } from '../helpers/cluster.js'

const valid = { v: PROTOCOL_VERSION, kind: 0, from: 'test/x/e', to: 'test/a/echo', id: 1, m: 'hi', b: { n: 1 } }
type Fields = Partial<Record<keyof typeof valid, unknown>>

/** The fields as a frame of the current version: [v, addresses, [kind, fromRef, toRef, id, method, body]]; a deleted field leaves a hole. */
function frame(e: Fields): Uint8Array {
  const has = (k: keyof typeof valid) => Object.hasOwn(e, k)
  const addresses = (['from', 'to'] as const).filter(has).map((k) => e[k])
  const tuple = [...(has('kind') ? [e.kind] : []), 0, 1, ...(['id', 'm', 'b'] as const).filter(has).map((k) => e[k])]
  return pack([...(has('v') ? [e.v] : []), addresses, tuple])
}

/**
 * A random string may happen to be a well-formed address: 'QA/4/9K', or one relative to the link
 * the frame comes on, like '.0' or '~R' (as node a decodes frames from x). A frame to it is a
 * message to an engine that is not there, not a malformed frame; CI runs drew both kinds. Such
 * strings are no mutation.
 */
const wellFormedTo = (s: string): boolean => decodeFrame(frame({ ...valid, to: s }), { clusterId: 'test', self: 'a', peer: 'x' }).ok

/** Mutations that each make `valid` wrong in one way a codec or the messenger must catch. */
const mutation = fc.oneof(
  fc.constantFrom('v', 'kind', 'from', 'to', 'm', 'id').map((k) => (e: Fields) => void delete e[k as keyof Fields]),
  fc.oneof(fc.integer({ min: 0, max: 99 }).filter((n) => n !== PROTOCOL_VERSION), fc.string(), fc.constant(null)).map((bad) => (e: Fields) => void (e.v = bad)),
  fc.oneof(fc.integer({ min: 5 }), fc.constant(-1), fc.string(), fc.constant(null)).map((bad) => (e: Fields) => void (e.kind = bad)),
  fc.oneof(fc.string({ maxLength: 30 }).filter((s) => !wellFormedTo(s)), fc.integer(), fc.constant('test/a')).map((bad) => (e: Fields) => void (e.to = bad)),
  fc.oneof(fc.double({ noInteger: true }), fc.integer({ max: -1 }), fc.string()).map((bad) => (e: Fields) => void (e.id = bad)),
  fc.constantFrom('', 'm'.repeat(65)).map((bad) => (e: Fields) => void (e.m = bad)),
  // Decodes fine but lies about its sender or cluster: the messenger must drop it.
  fc.constantFrom('test/a/e', 'test/c/e', 'other/x/e', 'test/*/echo').map((bad) => (e: Fields) => void (e.from = bad)),
)

describe('malformed frames', () => {
  let nodes: MeshNode[] = []
  afterEach(async () => {
    for (const n of nodes) await n.close()
    nodes = []
  })

  async function setup(maxMalformedPerPeer: number) {
    const c = await memoryCluster(['a', 'c'], { maxMalformedPerPeer })
    nodes = c.nodes
    const [a, cNode] = c.nodes as [MeshNode, MeshNode]
    const echo = echoEngine('echo')
    a.registerEngine(echo)
    c.refresh()
    const attacker = c.net.createTransport() as MemoryTransport
    await attacker.connect(nodeId('x'))
    await flushMicrotasks()
    const serves = async () => expect(await cNode.request(cNode.address('client'), parseAddress('test/a/echo'), 'ping', 'still here')).toMatchObject({ echoed: 'still here' })
    return { a, attacker, echo, serves }
  }

  it('counts and drops 1,200 generated bad frames and keeps serving', async () => {
    const { a, attacker, echo, serves } = await setup(Number.MAX_SAFE_INTEGER)
    const reasons = new Set<string>()
    a.messenger.events.on('malformed', ({ reason }) => reasons.add(reason.split(':')[0]!))
    let sent = 0
    const send = async (bytes: Uint8Array) => {
      const before = a.metrics().malformed
      attacker.send(nodeId('a'), bytes)
      sent++
      await flushMicrotasks(5)
      expect(a.metrics().malformed).toBe(before + 1)
    }
    const runs = { numRuns: 400 }
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }).filter((b) => !decodeFrame(b).ok), send), runs)
    await fc.assert(fc.asyncProperty(fc.anything().map((x) => pack(x) as Uint8Array).filter((b) => !decodeFrame(b).ok), send), runs)
    await fc.assert(
      fc.asyncProperty(mutation, async (mutate) => {
        const e: Fields = structuredClone(valid)
        mutate(e)
        await send(frame(e))
      }),
      runs,
    )
    // The unmutated frame is accepted: the mutations, not the frame builder, make them bad.
    expect(decodeFrame(frame(valid)).ok).toBe(true)
    expect(sent).toBeGreaterThanOrEqual(1200)
    expect(echo.calls).toEqual([]) // not one bad envelope reached the engine
    expect(reasons.size).toBeGreaterThan(3)
    await serves()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('cuts off a peer that keeps sending garbage, and the cluster keeps serving', async () => {
    const { a, attacker, serves } = await setup(20)
    const banned: string[] = []
    a.messenger.events.on('peer-banned', ({ peer }) => banned.push(peer))
    for (let i = 0; i < 20; i++) attacker.send(nodeId('a'), Uint8Array.of(0xc1, i))
    await flushMicrotasks()
    expect(banned).toEqual(['x'])
    expect(attacker.peers()).not.toContain('a')
    expect(() => attacker.send(nodeId('a'), Uint8Array.of(1))).toThrow()
    await serves()
  })
})
