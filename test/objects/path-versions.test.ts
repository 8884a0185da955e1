/**
 * Per-path versions: after any sequence of patches, the version of every sub-element is the seq
 * of the last write to it, to an ancestor of it or to anything inside it (or the last put's), as
 * a model that remembers every write says, whatever entries were dropped or replaced on the way.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { elementObject, fromSnapshotObject, toRecord } from '../../src/objects/object-record.js'
import { applyChange, pathVersions, versionAt, type Path, type StoredObject } from '../../src/objects/objects.js'

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

function throughSnapshot(obj: StoredObject, shuffle: number): StoredObject {
  const snap = elementObject(structuredClone(toRecord('k', obj)))
  if (snap.paths) for (let i = snap.paths.length - 1; i > 0; i--) {
    const j = (shuffle + i * 7919) % (i + 1)
    ;[snap.paths[i], snap.paths[j]] = [snap.paths[j]!, snap.paths[i]!]
  }
  return fromSnapshotObject(snap)
}

describe('per-path versions', () => {
  it('match a model that remembers every write, for every path', () => {
    fc.assert(
      fc.property(fc.array(fc.array(path, { minLength: 1, maxLength: 3 }), { maxLength: 60 }), fc.nat(), fc.nat(60), (writes, shuffle, restartAt) => {
        let obj: StoredObject = applyChange('k', undefined, { kind: 'put', value: tree(3) }, 1)!
        const model: { path: Path; seq: number }[] = []
        writes.forEach((paths, i) => {
          // Once midway, the object goes through a snapshot, its entries in any order (older
          // snapshots kept no particular one), and the writes go on on the copy.
          if (i === restartAt) obj = throughSnapshot(obj, shuffle)
          const seq = i + 2
          obj = applyChange('k', obj, { kind: 'patch', patches: paths.map((p) => ({ op: 'replace' as const, path: p, value: tree(3 - p.length) })) }, seq)!
          for (const p of paths) model.push({ path: p, seq })
        })
        const copy = throughSnapshot(obj, shuffle)
        for (const q of ALL) {
          const expected = Math.max(1, ...model.filter((w) => related(w.path, q)).map((w) => w.seq))
          expect(versionAt(obj, q)).toBe(expected)
          expect(versionAt(copy, q)).toBe(expected)
        }
        // Nothing remembered twice: a path written again replaced its entry.
        const keys = pathVersions(obj.paths).map((e) => e.path.join('/'))
        expect(new Set(keys).size).toBe(keys.length)
      }),
      { numRuns: 300 },
    )
  })

  it('collapses past 64 remembered paths without ever reporting a version older than the truth', () => {
    let obj: StoredObject = applyChange('k', undefined, { kind: 'put', value: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, 0])) }, 1)!
    for (let i = 0; i < 100; i++) obj = applyChange('k', obj, { kind: 'patch', patches: [{ op: 'replace', path: [`f${i}`], value: i }] }, i + 2)!
    expect(pathVersions(obj.paths).length).toBeLessThanOrEqual(64)
    for (let i = 0; i < 100; i++) expect(versionAt(obj, [`f${i}`])).toBeGreaterThanOrEqual(i + 2)
    expect(versionAt(obj, ['f99'])).toBe(101)
  })
})
