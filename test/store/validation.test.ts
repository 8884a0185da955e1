/** Every bad input gets a named error naming what was wrong, and changes nothing already stored. */
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, validateWrite } from '../../src/objects/guard.js'
import { virtualServerId } from '../../src/ids.js'
import { StoreCluster } from '../helpers/store-cluster.js'

const VS = virtualServerId('shop')
let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

const ORIGINAL = { name: 'Ada', list: [1, 2], nested: { deep: { x: 1 } } }

/** What every replica of `key` holds, and the domain's seq: must be equal before and after. */
function fingerprint(cl: StoreCluster, key: string): string {
  return JSON.stringify(
    [...cl.nodes.values()].map((n) => {
      const d = n.state.domainOf(VS, key)
      return [n.state.readLocal(VS, key), n.state.domains().find((x) => x.domain === d)?.lastSeq]
    }),
  )
}

describe('bad input', () => {
  const cases: [string, (s: ReturnType<StoreCluster['node']>['store'] extends (v: string) => infer S ? S : never) => Promise<unknown>, string, RegExp][] = [
    ['patch on a path that does not exist', (s) => s.patch('obj', [{ op: 'replace', path: ['nope', 'x'], value: 1 }]), 'PathNotFoundError', /nothing at path \/nope/],
    ['patch replacing a missing leaf', (s) => s.patch('obj', [{ op: 'replace', path: ['missing'], value: 1 }]), 'PathNotFoundError', /\/missing/],
    ['patch past the end of an array', (s) => s.patch('obj', [{ op: 'add', path: ['list', 5], value: 1 }]), 'PathNotFoundError', /\/list\/5/],
    ['patch into a number', (s) => s.patch('obj', [{ op: 'add', path: ['name', 'x'], value: 1 }]), 'PathNotFoundError', /\/name/],
    ['__proto__ in a patch path', (s) => s.patch('obj', [{ op: 'add', path: ['__proto__', 'polluted'], value: true }]), 'ForbiddenPathError', /__proto__/],
    ['constructor/prototype in a patch path', (s) => s.patch('obj', [{ op: 'replace', path: ['nested', 'constructor', 'prototype'], value: 1 }]), 'ForbiddenPathError', /constructor/],
    ['__proto__ key inside a put value', (s) => s.put('obj', JSON.parse('{"a":{"__proto__":{"polluted":true}}}')), 'ForbiddenPathError', /__proto__/],
    ['a value over the size limit', (s) => s.put('obj', { blob: 'x'.repeat(3000) }), 'ValueTooLargeError', /over the limit of 2048/],
    ['a patch over the size limit', (s) => s.patch('obj', [{ op: 'replace', path: ['name'], value: 'y'.repeat(3000) }]), 'ValueTooLargeError', /patch is/],
    ['a value nested too deep', (s) => s.put('obj', JSON.parse('{"a":'.repeat(20) + '1' + '}'.repeat(20))), 'InvalidValueError', /deeper than the limit/],
    ['a path deeper than the limit', (s) => s.patch('obj', [{ op: 'replace', path: Array(20).fill('a'), value: 1 }]), 'InvalidPatchError', /deeper than 16/],
    ['a Map value', (s) => s.put('obj', new Map([[1, 2]])), 'InvalidValueError', /plain objects/],
    ['a Date value', (s) => s.put('obj', { when: new Date() }), 'InvalidValueError', /Date at \/when/],
    ['a function value', (s) => s.put('obj', { f: () => 1 }), 'InvalidValueError', /function at \/f/],
    ['NaN', (s) => s.put('obj', { n: Number.NaN }), 'InvalidValueError', /non-finite number at \/n/],
    ['an unknown patch op', (s) => s.patch('obj', [{ op: 'move' as 'add', path: ['name'], value: 1 }]), 'InvalidPatchError', /unknown op "move"/],
    ['an empty patch', (s) => s.patch('obj', []), 'InvalidPatchError', /non-empty/],
    ['removing the root', (s) => s.patch('obj', [{ op: 'remove', path: [] }]), 'InvalidPatchError', /delete the key/],
    ['a patch on a key that does not exist', (s) => s.patch('ghost', [{ op: 'replace', path: ['a'], value: 1 }]), 'KeyNotFoundError', /no object under key "ghost"/],
    ['an update on a key that does not exist', (s) => s.update('ghost', () => {}), 'KeyNotFoundError', /ghost/],
    ['an empty key', (s) => s.put('', 1), 'InvalidStoreKeyError', /non-empty string/],
    ['a key over the length limit', (s) => s.put('k'.repeat(600), 1), 'InvalidStoreKeyError', /longer than 512/],
    ['a key with a lone surrogate', (s) => s.put('k\ud800', 1), 'InvalidStoreKeyError', /lone surrogate/],
    ['a string with a lone surrogate in a value', (s) => s.put('obj', { list: ['ok', 'x\udc00'] }), 'InvalidValueError', /lone surrogate.*at \/list\/1/],
    ['an object key with a lone surrogate in a patch value', (s) => s.patch('obj', [{ op: 'replace', path: ['nested'], value: { '\ud83d': 1 } }]), 'InvalidValueError', /key with a lone surrogate/],
    ['a patch path segment with a lone surrogate', (s) => s.patch('obj', [{ op: 'add', path: ['a\ud800'], value: 1 }]), 'InvalidPatchError', /lone surrogate/],
    ['a later op of a patch failing', (s) => s.patch('obj', [{ op: 'replace', path: ['name'], value: 'Bob' }, { op: 'remove', path: ['zzz'] }]), 'PathNotFoundError', /zzz/],
  ]

  for (const [what, act, name, message] of cases) {
    it(`${what} → ${name}, nothing changes`, async () => {
      c = await StoreCluster.start(['a', 'b', 'c'], { store: { limits: { maxValueBytes: 2048, maxDepth: 16 } } })
      // Ask through a node that is not the primary, so the error crosses the wire as it would for a client.
      const primary = c.node('a').state.placement(c.node('a').state.domainOf(VS, 'obj')).primary
      const asker = ['a', 'b', 'c'].find((n) => n !== primary)!
      const s = c.node(asker).store('shop')
      await s.put('obj', ORIGINAL)
      await c.settle()
      const before = fingerprint(c, 'obj') + fingerprint(c, 'ghost')
      const err = await act(s).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err, 'it must fail').toBeDefined()
      expect((err as Error).name).toBe(name)
      expect((err as Error).message).toMatch(message)
      await c.settle()
      expect(fingerprint(c, 'obj') + fingerprint(c, 'ghost')).toBe(before)
      expect(await s.get('obj')).toEqual(ORIGINAL)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    })
  }
})

describe('a peer that bypasses the SDK', () => {
  it('is refused by the primary: schema errors and guard errors, nothing stored', async () => {
    c = await StoreCluster.start(['a', 'b', 'c'])
    const n = c.node('a')
    await n.store('shop').put('obj', ORIGINAL)
    const primary = n.state.placement(n.state.domainOf(VS, 'obj')).primary!
    const to = { clusterId: n.clusterId, nodeId: primary, engineId: 'store', virtualServerId: VS } as const
    const raw = (method: string, body: unknown) => n.request(n.address('evil'), to as never, method, body).catch((e: unknown) => e as Error)
    const before = fingerprint(c, 'obj')
    // Changes travel as tuples (log.ts): [1, ...patches] with ops 0 add, 1 replace, 2 remove.
    expect(await raw('write', { vs: 'shop', key: 'obj', change: [1, [3, ['x']]] })).toMatchObject({ name: 'BadRequestError', message: expect.stringMatching(/change/) }) // no op 3 ('move')
    expect(await raw('write', { vs: 'shop', key: 'obj', change: { kind: 'patch', patches: [{ op: 'replace', path: ['x'], value: 1 }] } })).toMatchObject({ name: 'BadRequestError', message: expect.stringMatching(/change/) }) // not the wire form
    expect(await raw('write', { vs: 'shop', key: 'obj', change: [1, [0, ['__proto__', 'x'], 1]] })).toMatchObject({ name: 'ForbiddenPathError' })
    expect(await raw('write', { vs: 'shop', key: 'obj', change: [0, { blob: 'x'.repeat(2 << 20) }] })).toMatchObject({ name: 'ValueTooLargeError' })
    expect(await raw('write', { vs: 'shop', key: 42, change: [2] })).toMatchObject({ name: 'BadRequestError', message: expect.stringMatching(/key/) })
    expect(await raw('explode', {})).toMatchObject({ name: 'UnknownMethodError' })
    await c.settle()
    expect(fingerprint(c, 'obj')).toBe(before)
  })
})

describe('the guard on its own', () => {
  const limits = { ...DEFAULT_LIMITS, maxValueBytes: 2048 }
  it('measures a patch exactly near the size limit: 2,000 characters pass, 2,100 do not', () => {
    const patch = (n: number) => ({ kind: 'patch', patches: [{ op: 'replace' as const, path: ['name'], value: 'y'.repeat(n) }] })
    expect(() => validateWrite('obj', patch(2000), limits)).not.toThrow()
    expect(() => validateWrite('obj', patch(2100), limits)).toThrow(/patch is 210\d bytes/)
  })

  it('names the full path of a bad leaf deep inside a value, and of a patch value', () => {
    expect(() => validateWrite('obj', { kind: 'put', value: { a: [{ b: 1 }, { b: Number.NaN }] } }, limits)).toThrow('non-finite number at /a/1/b')
    expect(() => validateWrite('obj', { kind: 'patch', patches: [{ op: 'add', path: ['list', 0], value: { when: new Date() } }] }, limits)).toThrow(/Date at \/list\/0\/when/)
  })
})
