/**
 * The fresh-cluster workload, the same for every system: change n (base+1 .. base+ops) writes the
 * value n into one field of one object, both drawn from a seeded generator, so a Yjs writer and a
 * domainmesh writer given the same seed issue the same changes and every peer can work out on its
 * own which value each field must end with.
 */
import { seededRandom } from '../src/util/random.js'

/** The SDK's own seeded generator (mulberry32): the same sequence in every process for one seed. */
export const rng = seededRandom

export interface Plan {
  seed: number
  /** Change values run base+1 .. base+ops. */
  base: number
  ops: number
  objects: number
  fields: number
  /** 'sequence': object i mod objects, field i div objects, as the warm rows write (default random). */
  order?: 'random' | 'sequence'
}

/** Change number i (0-based) of the plan: its value, object and field. */
export function* changes(p: Plan): Generator<{ value: number; object: number; field: number }> {
  const next = rng(p.seed)
  for (let i = 0; i < p.ops; i++) {
    const seq = p.order === 'sequence'
    const object = seq ? i % p.objects : Math.floor(next() * p.objects)
    const field = seq ? Math.floor(i / p.objects) % p.fields : Math.floor(next() * p.fields)
    yield { value: p.base + 1 + i, object, field }
  }
}

/**
 * Watches one copy until it holds the plan's last value in every field the plan touches: the
 * moment every change has been applied there (a field written twice only needs its later value;
 * a copy may apply the two at once). `seen` notes each value's first sighting, for latency.
 */
export class PlanTracker {
  private readonly final = new Map<number, number>()
  private remaining: number
  readonly arrived = new Map<number, number>()
  lastAt = 0
  private readonly done: Promise<number>
  private resolve!: (t: number) => void

  constructor(
    readonly plan: Plan,
    private readonly now: () => number,
  ) {
    for (const c of changes(plan)) this.final.set(c.object * plan.fields + c.field, c.value)
    this.remaining = this.final.size
    this.done = new Promise((r) => (this.resolve = r))
    if (this.remaining === 0) this.resolve(now())
  }

  /** The copy applied `value` to field `field` of object `object`. */
  seen(object: number, field: number, value: number): void {
    if (value <= this.plan.base || value > this.plan.base + this.plan.ops) return
    const t = this.now()
    if (!this.arrived.has(value)) this.arrived.set(value, t)
    const slot = object * this.plan.fields + field
    if (this.final.get(slot) !== value) return
    this.final.delete(slot)
    this.lastAt = t
    if (--this.remaining === 0) this.resolve(t)
  }

  /** When the copy held every change (ms on the shared wall clock). */
  complete(): Promise<number> {
    return this.done
  }
}
