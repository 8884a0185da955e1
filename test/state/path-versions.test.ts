/**
 * Per-path versions: after any sequence of patches, the version of every sub-element is the seq
 * of the last write to it, to an ancestor of it or to anything inside it (or the last put's), as
 * a model that remembers every write says, whatever entries were dropped or replaced on the way.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyChange, versionAt, type Path, type StoredObject } from '../../src/state/objects.js'

const KEYS = ['a', 'b', 'c'] as const
/** Every path of up to 3 keys exists in it, so any patch below applies. */
const tree = (depth: number): unknown => (depth === 0 ? 0 : Object.fromEntries(KEYS.map((k) => [k, tree(depth - 1)])))
const path = fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 })
const related = (a: Path, b: Path) => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}
const ALL: Path[] = [[]]
for (const a of KEYS) {
  ALL.push([a])
  for (const b of KEYS) {
    ALL.push([a, b])
    for (const c of KEYS) ALL.push([a, b, c])
  }
}

describe('per-path versions', () => {
  it('match a model that remembers every write, for every path', () => {
    fc.assert(
      fc.property(fc.array(fc.array(path, { minLength: 1, maxLength: 3 }), { maxLength: 60 }), (writes) => {
        let obj: StoredObject = applyChange('k', undefined, { kind: 'put', value: tree(3) }, 1)!
        const model: { path: Path; seq: number }[] = []
        writes.forEach((paths, i) => {
          const seq = i + 2
          obj = applyChange('k', obj, { kind: 'patch', patches: paths.map((p) => ({ op: 'replace' as const, path: p, value: tree(3 - p.length) })) }, seq)!
          for (const p of paths) model.push({ path: p, seq })
        })
        for (const q of ALL) {
          const expected = Math.max(1, ...model.filter((w) => related(w.path, q)).map((w) => w.seq))
          expect(versionAt(obj, q)).toBe(expected)
        }
        // Nothing remembered twice: a path written again replaced its entry.
        const keys = (obj.paths ?? []).map((e) => e.path.join('/'))
        expect(new Set(keys).size).toBe(keys.length)
      }),
      { numRuns: 300 },
    )
  })
})
