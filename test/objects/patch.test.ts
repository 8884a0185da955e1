/** The store's own patch applier must do exactly what Immer's `applyPatches` does, on any plain data. */
import fc from 'fast-check'
import { applyPatches, enablePatches, type Patch } from 'immer'
import { describe, expect, it } from 'vitest'
import { deepFreeze } from '../../src/objects/objects.js'
import { checkPath } from '../../src/objects/guard.js'
import { applyPatch } from '../../src/objects/patch.js'

enablePatches()

const key = fc.string({ maxLength: 4 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k))
const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null))
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 4 }), fc.dictionary(key, tie('tree'), { maxKeys: 4 })),
}))
const container = fc.oneof(fc.array(tree, { maxLength: 4 }), fc.dictionary(key, tree, { maxKeys: 4 }))

/** A path into `root` chosen by `steps`, ending at an existing element, a new key, an index or '-'. */
function pathIn(root: unknown, steps: number[], op: Patch['op'], fresh: string): (string | number)[] {
  const path: (string | number)[] = []
  let node = root
  for (const step of steps) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node as object)
    const child = keys[step % Math.max(1, keys.length)]
    const inner = child === undefined ? undefined : (node as Record<string | number, unknown>)[child]
    if (child === undefined || inner === null || typeof inner !== 'object' || step % 3 === 0) {
      if (op === 'add') path.push(Array.isArray(node) ? (step % 5 === 0 ? '-' : step % (node.length + 1)) : fresh)
      else if (child !== undefined) path.push(child)
      return path
    }
    path.push(child)
    node = inner
  }
  return path
}

describe('applyPatch', () => {
  it('gives what Immer gives, copies only the path and leaves the input and the patch untouched', () => {
    let applied = 0
    fc.assert(
      fc.property(container, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), fc.constantFrom<Patch['op']>('add', 'replace', 'remove'), tree, key, (root, steps, op, value, fresh) => {
        const base = deepFreeze(structuredClone(root))
        const patch: Patch = op === 'remove' ? { op, path: pathIn(base, steps, op, fresh) } : { op, path: pathIn(base, steps, op, fresh), value }
        try {
          checkPath('k', base, patch)
        } catch {
          return // the store refuses it before applying
        }
        applied++
        const before = structuredClone(base)
        const patchBefore = structuredClone(patch)
        const ours = applyPatch(base, patch)
        expect(ours).toEqual(applyPatches(base as object, [patch]))
        expect(base).toEqual(before)
        expect(patch).toEqual(patchBefore)
        expect(Object.isFrozen(ours)).toBe(true)
        if (patch.value !== null && typeof patch.value === 'object' && patch.path.length > 0) expect(Object.isFrozen(patch.value)).toBe(false)
        // Siblings of the path are shared, not copied.
        if (patch.path.length > 1 && !Array.isArray(base)) {
          for (const k of Object.keys(base)) if (k !== String(patch.path[0])) expect((ours as Record<string, unknown>)[k]).toBe((base as Record<string, unknown>)[k])
        }
      }),
      { numRuns: 3_000 },
    )
    expect(applied).toBeGreaterThan(1_000)
  })

  it('replaces the whole value for an empty path', () => {
    const v = applyPatch(deepFreeze({ a: 1 }), { op: 'replace', path: [], value: { b: [1] } })
    expect(v).toEqual({ b: [1] })
    expect(Object.isFrozen((v as { b: unknown }).b)).toBe(true)
  })
})
