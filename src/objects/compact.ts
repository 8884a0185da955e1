/**
 * Immer describes an index shift in an array (`shift`, `unshift`, `splice` before the end) as a
 * replace of every element after the edit plus adds or removes at the end: for a 1,000-element
 * array, over the limit of operations a patch may carry. `compactPatches` sends each such array's
 * patches as one splice instead (objects.ts `SplicePatch`), computed from the array before and
 * after the recipe: the elements both keep at the front and at the back (the same references:
 * Immer keeps what a recipe did not touch) stay, the rest is replaced. The result is the same
 * value; the splice sets the version of the whole array, as any insert or removal does.
 *
 * A lone add or remove (a `push`, a `pop`) is left as Immer made it: it is already one operation,
 * and so are a few replaces of elements in place.
 */
import type { Patch } from 'immer'
import type { Path, SplicePatch, StorePatch } from './objects.js'

/** Past this many operations on the elements of one array (a `reverse`, a `sort`), they go as one splice too. */
const MANY = 16

export function compactPatches(base: unknown, next: unknown, patches: readonly Patch[]): StorePatch[] {
  // Per array whose elements the patches write directly: how many, and whether one changed its length.
  const direct = new Map<string, { path: Path; count: number; shifted: boolean }>()
  for (const p of patches) {
    if (p.path.length === 0) continue
    const parent = p.path.slice(0, -1)
    const id = JSON.stringify(parent)
    let d = direct.get(id)
    if (!d) {
      if (!Array.isArray(at(base, parent)) || !Array.isArray(at(next, parent))) continue
      direct.set(id, (d = { path: parent, count: 0, shifted: false }))
    }
    d.count++
    if (p.op !== 'replace') d.shifted = true
  }
  const chosen = [...direct.values()].filter((d) => (d.shifted && d.count > 1) || d.count > MANY).map((d) => d.path)
  if (chosen.length === 0) return patches as StorePatch[]
  // The outermost of nested ones: its splice carries the inner ones' elements.
  const arrays = chosen.filter((a) => !chosen.some((o) => o.length < a.length && isPrefix(o, a)))
  const out: StorePatch[] = []
  const placed = new Set<Path>()
  for (const p of patches) {
    const owner = arrays.find((a) => p.path.length > a.length && isPrefix(a, p.path))
    if (!owner) out.push(p)
    else if (!placed.has(owner)) {
      // In place of the array's first operation; later ones inside it are in the splice.
      placed.add(owner)
      out.push(spliceOf(owner, at(base, owner) as readonly unknown[], at(next, owner) as readonly unknown[]))
    }
  }
  return out
}

function spliceOf(path: Path, before: readonly unknown[], after: readonly unknown[]): SplicePatch {
  const shorter = Math.min(before.length, after.length)
  let front = 0
  while (front < shorter && before[front] === after[front]) front++
  let back = 0
  while (back < shorter - front && before[before.length - 1 - back] === after[after.length - 1 - back]) back++
  return { op: 'splice', path: [...path], index: front, remove: before.length - front - back, value: after.slice(front, after.length - back) }
}

function at(root: unknown, path: Path): unknown {
  let node = root
  for (const seg of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, seg)) return undefined
    node = (node as Record<string | number, unknown>)[seg]
  }
  return node
}

function isPrefix(a: Path, b: Path): boolean {
  if (a.length > b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
