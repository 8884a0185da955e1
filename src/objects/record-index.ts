/**
 * Where each encoded object's record is: an open-addressing hash table in two typed arrays (the
 * location and 8 bits of the id's hash per slot), about 7-13 bytes per object. A Map from id
 * strings cost ~100 bytes of heap per object (the entry and the id string), as much as the
 * encoded object itself; a whole 32-bit hash per slot, 0.4 MB more per 100,000 objects than the
 * 8-bit tag. The ids live only in the records: a lookup compares the id there (`matches`) when
 * the tag agrees (one slot in 256 that is not the id's gets that far), and a rebuild hashes the
 * ids again from their records (`hashAt`).
 */

const EMPTY = 0
const TOMBSTONE = -1
const MIN_CAPACITY = 16
/** Slots filled (live and tombstones) before the table is rebuilt. */
const MAX_LOAD = 0.75
/**
 * A quiet table is rebuilt at this load (`tighten`): a table grown by doubling is a third to two
 * thirds full, and at 0.7 a lookup still probes about two slots on average.
 */
const TIGHT_LOAD = 0.7

/** FNV-1a over the UTF-16 code units: fast in JS, and ids are short. */
export function hashId(id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h | 0
}

export class RecordIndex {
  /** loc + 1 per slot; EMPTY or TOMBSTONE otherwise. */
  private slots = new Int32Array(MIN_CAPACITY)
  /** The top 8 bits of each slot's id hash. */
  private tags = new Uint8Array(MIN_CAPACITY)
  private live = 0
  private used = 0

  /** `matches(loc, id)`: whether the record at `loc` is the one of `id`; `hashAt(loc)`: hashId of its id. */
  constructor(
    private readonly matches: (loc: number, id: string) => boolean,
    private readonly hashAt: (loc: number) => number,
  ) {}

  get size(): number {
    return this.live
  }

  /** Slots in the table (live, tombstones and empty). */
  get capacity(): number {
    return this.slots.length
  }

  get(id: string, hash = hashId(id)): number | undefined {
    const i = this.find(id, hash)
    return i < 0 ? undefined : this.slots[i]! - 1
  }

  /** Points `id` at `loc` (a new record of it). */
  set(id: string, loc: number, hash = hashId(id)): void {
    const i = this.find(id, hash)
    if (i >= 0) {
      this.slots[i] = loc + 1
      return
    }
    if (this.used + 1 > this.slots.length * MAX_LOAD) this.rebuild(Math.max(MIN_CAPACITY, 2 * (this.live + 1)))
    const capacity = this.slots.length
    let j = home(hash, capacity)
    while (this.slots[j]! > 0) if (++j === capacity) j = 0
    if (this.slots[j] === EMPTY) this.used++
    this.slots[j] = loc + 1
    this.tags[j] = tagOf(hash)
    this.live++
  }

  /** Forgets `id`; its location if it had one. */
  delete(id: string, hash = hashId(id)): number | undefined {
    const i = this.find(id, hash)
    if (i < 0) return undefined
    const loc = this.slots[i]! - 1
    this.slots[i] = TOMBSTONE
    this.live--
    return loc
  }

  /** Every location, in slot order. */
  *locations(): IterableIterator<number> {
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i]! > 0) yield this.slots[i]! - 1
  }

  /** Gives every record a new location (the arena was compacted): `move(old)` returns the new one. */
  relocate(move: (loc: number) => number): void {
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i]! > 0) this.slots[i] = move(this.slots[i]! - 1) + 1
  }

  /**
   * Rebuilds the table at `TIGHT_LOAD` if it is emptier than that by a tenth or more (the domain
   * is quiet: no inserts are coming): a table grown by doubling may be two thirds empty.
   */
  tighten(): void {
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(this.live / TIGHT_LOAD))
    if (capacity * 1.1 <= this.slots.length) this.rebuild(capacity)
  }

  private find(id: string, hash: number): number {
    const capacity = this.slots.length
    const tag = tagOf(hash)
    for (let j = home(hash, capacity); ; ) {
      const s = this.slots[j]!
      if (s === EMPTY) return -1
      if (s > 0 && this.tags[j] === tag && this.matches(s - 1, id)) return j
      if (++j === capacity) j = 0
    }
  }

  /** Rebuilds without tombstones at `capacity` slots (more than the live entries). */
  private rebuild(capacity: number): void {
    const { slots, tags } = this
    this.slots = new Int32Array(capacity)
    this.tags = new Uint8Array(capacity)
    for (let i = 0; i < slots.length; i++) {
      if (slots[i]! <= 0) continue
      let j = home(this.hashAt(slots[i]! - 1), capacity)
      while (this.slots[j] !== EMPTY) if (++j === capacity) j = 0
      this.slots[j] = slots[i]!
      this.tags[j] = tags[i]!
    }
    this.used = this.live
  }
}

/** The hash's top byte: `home` takes the remainder, so the tag tells apart ids that share a home. */
const tagOf = (hash: number): number => hash >>> 24

/** The first slot to probe: any capacity, not only powers of two (`tighten` sizes to the load). */
function home(hash: number, capacity: number): number {
  return (hash >>> 0) % capacity
}
