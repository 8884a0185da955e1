/**
 * Random recipes against a model (issue 31): writers on several nodes run Immer recipes on one
 * object (objects, arrays, nesting, front edits, undefined) through `update()`, blind patches
 * without `ifVersion`, and compare-and-set patches of one or two paths on a version read
 * earlier, some stale, with index-like segments spelled as numbers or strings. Each round's
 * writes run concurrently.
 *
 * The model replays every acknowledged write in version order (a write's version is its place in
 * the key's history). Then: every copy equals the model; a primary read after each round sees
 * it (no acknowledged write lost); and a compare-and-set on a version V of a path p is refused
 * exactly when some write acknowledged after V, before it took effect, touched p (wrote p, inside
 * it or an ancestor of it, or inserted into or removed from an array on the way to it).
 *
 * For "touched" to be visible in the model, every write gives what it writes values never seen
 * before (fresh tokens, increments of counters that only grow), and every recipe reads only what
 * it writes or arrays whose shape it depends on (an index found by id): replayed in version
 * order on the state before it, it gives what it gave on the copy it read.
 */
import fc from 'fast-check'
import { produce } from 'immer'
import { afterEach, describe, expect, it } from 'vitest'
import { virtualServerId } from '../../src/ids.js'
import type { Path } from '../../src/objects/objects.js'
import { StoreCluster } from '../helpers/store-cluster.js'
import { copies, keyLedBy } from './cas-helpers.js'

const VS = virtualServerId('shop')
const NODES = ['a', 'b', 'c'] as const

interface Item {
  id: string
  x: number
}
interface Doc {
  n: number
  s: string
  obj: Record<string, { x: number; t: string } | undefined>
  items: Item[]
  vals: (number | null)[]
  u?: string
}

/** What a recipe does, drawn by fast-check; `f` picks an element or key (a fraction of the length). */
type Edit =
  | { k: 'inc' }
  | { k: 'setS' }
  | { k: 'setObj'; f: number }
  | { k: 'incObj'; f: number }
  | { k: 'delObj'; f: number }
  | { k: 'undefObj'; f: number }
  | { k: 'push' }
  | { k: 'unshift'; two: boolean }
  | { k: 'removeAt'; f: number }
  | { k: 'insertAt'; f: number }
  | { k: 'incItem'; f: number }
  | { k: 'shift' }
  | { k: 'setVal'; f: number }
  | { k: 'holeVal'; f: number }
  | { k: 'growVals' }
  | { k: 'shrinkItems' }
  | { k: 'setU' }

const f = fc.double({ min: 0, max: 0.999, noNaN: true })
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.constant({ k: 'inc' as const }),
  fc.constant({ k: 'setS' as const }),
  fc.record({ k: fc.constant('setObj' as const), f }),
  fc.record({ k: fc.constant('incObj' as const), f }),
  fc.record({ k: fc.constant('delObj' as const), f }),
  fc.record({ k: fc.constant('undefObj' as const), f }),
  fc.constant({ k: 'push' as const }),
  fc.record({ k: fc.constant('unshift' as const), two: fc.boolean() }),
  fc.record({ k: fc.constant('removeAt' as const), f }),
  fc.record({ k: fc.constant('insertAt' as const), f }),
  fc.record({ k: fc.constant('incItem' as const), f }),
  fc.constant({ k: 'shift' as const }),
  fc.record({ k: fc.constant('setVal' as const), f }),
  fc.record({ k: fc.constant('holeVal' as const), f }),
  fc.constant({ k: 'growVals' as const }),
  fc.constant({ k: 'shrinkItems' as const }),
  fc.constant({ k: 'setU' as const }),
)

/** A path of the object to check a version on, and how to spell its index-like segments. */
type Target = { p: 'n' | 's' | 'obj' | 'objX' | 'item' | 'itemX' | 'val' | 'items'; f: number; asString: boolean }
const target: fc.Arbitrary<Target> = fc.record({ p: fc.constantFrom('n', 's', 'obj', 'objX', 'item', 'itemX', 'val', 'items'), f, asString: fc.boolean() })

type Action =
  | { a: 'update'; node: number; edits: Edit[] }
  | { a: 'blind'; node: number; what: 'setU' | 'push' }
  /** `back`: how many rounds old the version is (0: read at the start of this round). */
  | { a: 'cas'; node: number; back: number; targets: Target[] }
const node = fc.nat(NODES.length - 1)
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ a: fc.constant('update' as const), node, edits: fc.array(edit, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('blind' as const), node, what: fc.constantFrom('setU' as const, 'push' as const) }) },
  { weight: 3, arbitrary: fc.record({ a: fc.constant('cas' as const), node, back: fc.nat(2), targets: fc.array(target, { minLength: 1, maxLength: 2 }) }) },
)

/** Fresh values: a token and a number no write has used before (counters only grow by small steps from these). */
class Fresh {
  private i = 0
  token(): string {
    return `t${++this.i}`
  }
  num(): number {
    return ++this.i * 1_000_000
  }
}

const OBJ_KEYS = ['0', '1', '2', '3']
const at = <T>(xs: readonly T[], fr: number): number => Math.floor(fr * xs.length)

/** The recipe of an edit, with its fresh values fixed now (so replaying it writes the same). */
function recipe(e: Edit, fresh: Fresh): (d: Doc) => void {
  const tok = fresh.token()
  const num = fresh.num()
  switch (e.k) {
    case 'inc':
      return (d) => void d.n++
    case 'setS':
      return (d) => void (d.s = tok)
    case 'setObj':
      return (d) => void (d.obj[OBJ_KEYS[at(OBJ_KEYS, e.f)]!] = { x: num, t: tok })
    case 'incObj':
      return (d) => {
        const o = d.obj[OBJ_KEYS[at(OBJ_KEYS, e.f)]!]
        if (o) o.x++
      }
    case 'delObj':
      return (d) => void delete d.obj[OBJ_KEYS[at(OBJ_KEYS, e.f)]!]
    case 'undefObj':
      // Immer's patch carries undefined: the key is removed, as JSON has it.
      return (d) => {
        const k = OBJ_KEYS[at(OBJ_KEYS, e.f)]!
        if (k in d.obj) d.obj[k] = undefined
      }
    case 'push':
      return (d) => void d.items.push({ id: tok, x: num })
    case 'unshift':
      return (d) => void (e.two ? d.items.unshift({ id: tok, x: num }, { id: `${tok}b`, x: num + 500_000 }) : d.items.unshift({ id: tok, x: num }))
    case 'removeAt':
      return (d) => void (d.items.length > 0 && d.items.splice(at(d.items, e.f), 1))
    case 'insertAt':
      return (d) => void d.items.splice(at(d.items, e.f), 0, { id: tok, x: num })
    case 'incItem':
      return (d) => {
        const it = d.items[at(d.items, e.f)]
        if (it) it.x++
      }
    case 'shift':
      return (d) => void d.items.shift()
    case 'setVal':
      return (d) => {
        const i = at(d.vals, e.f)
        if (i < d.vals.length) d.vals[i] = num
      }
    case 'holeVal':
      // delete arr[i]: Immer's patch carries undefined, stored as JSON's null.
      return (d) => {
        const i = at(d.vals, e.f)
        if (d.vals[i] !== null && i < d.vals.length) delete d.vals[i]
      }
    case 'growVals':
      return (d) => void (d.vals.length += 2)
    case 'shrinkItems':
      return (d) => void (d.items.length > 0 && (d.items.length -= 1))
    case 'setU':
      return (d) => void (d.u = tok)
  }
}

/** As JSON has it (undefined members gone, holes null): what every copy holds. */
const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

/** The path a target names in `doc` (undefined if it has none there), spelled as asked. */
function pathOf(doc: Doc, t: Target): Path | undefined {
  const idx = (i: number): string | number => (t.asString ? String(i) : i)
  const objKey = (): string | number => {
    const k = OBJ_KEYS[at(OBJ_KEYS, t.f)]!
    return t.asString ? k : Number(k)
  }
  switch (t.p) {
    case 'n':
    case 's':
    case 'items':
      return [t.p]
    case 'obj':
      return doc.obj[OBJ_KEYS[at(OBJ_KEYS, t.f)]!] ? ['obj', objKey()] : undefined
    case 'objX':
      return doc.obj[OBJ_KEYS[at(OBJ_KEYS, t.f)]!] ? ['obj', objKey(), 'x'] : undefined
    case 'item':
      return doc.items.length > 0 ? ['items', idx(at(doc.items, t.f))] : undefined
    case 'itemX':
      return doc.items.length > 0 ? ['items', idx(at(doc.items, t.f)), 'x'] : undefined
    case 'val':
      return doc.vals.length > 0 ? ['vals', idx(at(doc.vals, t.f))] : undefined
  }
}

/** A value never seen before for the sub-element at `path`, of its kind. */
function freshAt(path: Path, fresh: Fresh): unknown {
  const last = String(path[path.length - 1])
  if (path[0] === 'items') return path.length === 1 ? [{ id: fresh.token(), x: fresh.num() }] : path.length === 2 ? { id: fresh.token(), x: fresh.num() } : fresh.num()
  if (path[0] === 'obj') return path.length === 2 ? { x: fresh.num(), t: fresh.token() } : fresh.num()
  if (last === 'n' || path[0] === 'vals') return fresh.num()
  return fresh.token()
}

/**
 * What a version check of `path` compares, as the model shows it: the length of every array on
 * the way (an insert or removal changes it) and the sub-element itself.
 */
function shape(doc: Doc, path: Path): string {
  const parts: unknown[] = []
  let v: unknown = doc
  for (const seg of path) {
    if (Array.isArray(v)) parts.push(v.length)
    v = v === null || v === undefined ? undefined : (v as Record<string, unknown>)[String(seg)]
  }
  parts.push(v)
  return JSON.stringify(parts)
}

function setAt(d: Doc, path: Path, value: unknown): void {
  let v = d as unknown as Record<string, unknown>
  for (const seg of path.slice(0, -1)) v = v[String(seg)] as Record<string, unknown>
  v[String(path[path.length - 1])] = value
}

let c: StoreCluster | undefined
afterEach(async () => {
  await c?.close()
  c = undefined
})

describe('random recipes against a model', () => {
  it('every copy equals the model, every acknowledged write is seen, and a compare-and-set conflicts exactly when what it names changed', { timeout: 300_000 }, async () => {
    const totals = { cas: 0, casStale: 0, casTaken: 0, updates: 0 }
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(action, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 6 }), fc.nat(NODES.length - 1), async (rounds, leader) => {
        await c?.close()
        c = await StoreCluster.start([...NODES], { replicas: 2 })
        const cl = c
        const key = keyLedBy(cl, NODES[leader]!)
        const fresh = new Fresh()
        const initial: Doc = { n: 0, s: fresh.token(), obj: { '0': { x: fresh.num(), t: fresh.token() }, '2': { x: fresh.num(), t: fresh.token() } }, items: [1, 2, 3].map(() => ({ id: fresh.token(), x: fresh.num() })), vals: [fresh.num(), fresh.num()] }
        const first = await cl.run(cl.node('a').store('shop').put(key, initial))
        /** The model's state after each version, in order. */
        const states: { version: number; doc: Doc }[] = [{ version: first.version, doc: json(initial) }]
        const reads: { version: number; doc: Doc }[] = []
        for (const round of rounds) {
          // Each round starts from a primary read: it must show every write acknowledged so far.
          const read = (await cl.run(cl.node(NODES[reads.length % NODES.length]!).store('shop').getVersioned<Doc>(key)))!
          const last = states[states.length - 1]!
          expect(read).toEqual({ value: last.doc, version: last.version })
          reads.push({ version: read.version, doc: read.value })
          type Done = { apply: (d: Doc) => void; version: number }
          const done: Done[] = []
          const checks: { from: number; paths: Path[]; outcome: { version: number } | { conflictAt: number } }[] = []
          const pending = round.map(async (act) => {
            const store = cl.node(NODES[act.node]!).store('shop')
            if (act.a === 'update') {
              const rs = act.edits.map((e) => recipe(e, fresh))
              const all = (d: Doc) => rs.forEach((r) => r(d))
              totals.updates++
              const ack = await store.update<Doc>(key, all)
              if (ack) done.push({ apply: all, version: ack.version })
            } else if (act.a === 'blind') {
              if (act.what === 'setU') {
                const tok = fresh.token()
                const ack = await store.patch(key, [{ op: 'add', path: ['u'], value: tok }])
                done.push({ apply: (d) => void (d.u = tok), version: ack.version })
              } else {
                const item = { id: fresh.token(), x: fresh.num() }
                const ack = await store.patch(key, [{ op: 'add', path: ['items', '-'], value: item }])
                done.push({ apply: (d) => void d.items.push({ ...item }), version: ack.version })
              }
            } else {
              const base = reads[Math.max(0, reads.length - 1 - act.back)]!
              // One or two paths, under different top-level fields (so neither moves the other).
              const paths: Path[] = []
              for (const t of act.targets) {
                const p = pathOf(base.doc, t)
                if (p && !paths.some((q) => q[0] === p[0])) paths.push(p)
              }
              if (paths.length === 0) return
              const ops = paths.map((path) => ({ op: 'replace' as const, path: [...path], value: freshAt(path, fresh) }))
              totals.cas++
              try {
                const ack = await store.patch(key, ops, { ifVersion: base.version })
                done.push({ apply: (d) => ops.forEach((o) => setAt(d, o.path, json(o.value))), version: ack.version })
                checks.push({ from: base.version, paths, outcome: { version: ack.version } })
              } catch (err) {
                expect(err, String(err)).toMatchObject({ code: 'CAS_CONFLICT' })
                const { actual, path } = (err as { details: { actual: number; path: Path } }).details
                expect(paths.map((p) => p.map(String).join('/'))).toContain(path.map(String).join('/'))
                checks.push({ from: base.version, paths: [path], outcome: { conflictAt: actual } })
              }
            }
          })
          await cl.run(Promise.all(pending))
          // The model: this round's writes in the order of their versions, each on the state before it.
          for (const w of done.sort((x, y) => x.version - y.version)) {
            const before = states[states.length - 1]!
            expect(w.version).toBeGreaterThan(before.version)
            states.push({ version: w.version, doc: json(produce(before.doc, w.apply)) })
          }
          for (const ch of checks) {
            const base = states.findLast((s) => s.version <= ch.from)!
            const when = 'version' in ch.outcome ? ch.outcome.version : ch.outcome.conflictAt
            const between = states.filter((s) => s.version > ch.from && ('version' in ch.outcome ? s.version < when : s.version <= when))
            const changed = ch.paths.some((p) => between.some((s) => shape(s.doc, p) !== shape(base.doc, p)))
            const what = `compare-and-set of ${JSON.stringify(ch.paths)} on version ${ch.from}: ${JSON.stringify(ch.outcome)}; shapes ${ch.paths.map((p) => `${shape(base.doc, p)} then ${between.map((s) => `${s.version}: ${shape(s.doc, p)}`).join(', ')}`).join('; ')}`
            // Taken: nothing it names changed before it. Refused: the path and version the primary names did change.
            expect(changed, what).toBe(!('version' in ch.outcome))
            if (changed) totals.casStale++
            else totals.casTaken++
          }
        }
        await cl.settle()
        const final = states[states.length - 1]!.doc
        const all = copies(cl, key)
        expect(all).toHaveLength(2)
        for (const v of all) expect(v).toEqual(final)
        expect(await cl.run(cl.node('c').store('shop').get(key))).toEqual(final)
      }),
      { numRuns: 40, seed: 31 },
    )
    // The runs did what they say: compare-and-sets both taken and refused, updates made.
    expect(totals.casTaken).toBeGreaterThan(20)
    expect(totals.casStale).toBeGreaterThan(20)
    expect(totals.updates).toBeGreaterThan(100)
  })
})
