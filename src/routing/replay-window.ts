/**
 * Which request ids one peer has already sent us, as an anti-replay window (IPsec's, RFC 4303
 * §3.4.3): a bitmap of the last `span` ids below the highest one seen. A peer numbers its requests
 * from one counter, so the ids that reach us climb, with gaps for the requests it sent elsewhere.
 * The window used to be a Set of the last 20,000 ids plus a ring of them: 20,000 heap numbers (ids
 * are above 2^31) and a hash table, about 1.1 MB per peer that sends us requests, all of it old
 * generation the garbage collector walks. This is 32 KB, and O(1) per request.
 *
 * Each life of a peer counts from its own random point (messenger.ts), and the frames of two lives
 * can reach us mixed: a stopped process handles what its peer's past life sent only once it goes
 * on, after the new life's link came up; a late frame of the old connection can follow the new
 * one's. So the window keeps two id spaces, 32 KB each (the current life's and the one before).
 * An id far from both (`span` or more below, or JUMP or more above) starts a new space in place
 * of the one used least recently: it is another life's. Such an id used to count as new without
 * being recorded, so when a peer's new life happened to count from below its past life's ids,
 * every duplicated frame of it ran twice (sim seed 194: one acknowledged patch appended twice).
 */
export class ReplayWindow {
  /** The id space used last, and the other one (if a second life, or a jump, was seen). */
  private last: IdSpace | undefined
  private other: IdSpace | undefined

  constructor(private readonly span = 1 << 18) {
    if (!Number.isInteger(span) || span < 32 || span % 32 !== 0) throw new RangeError(`replay window span must be a positive multiple of 32, not ${span}`)
  }

  /**
   * True the first time `id` is seen, false for a repeat. A repeat is known as long as the id is
   * less than `span` below the highest id of its space, which a duplicated or delayed frame on an
   * ordered channel never spans, and no third life of the peer came between.
   */
  firstTime(id: number): boolean {
    const a = this.last
    const b = this.other
    // A bit is set only by the id it stands for (sliding clears the ones passed): a set one, in
    // either space, is a repeat.
    if ((a?.covers(id) && a.has(id)) || (b?.covers(id) && b.has(id))) return false
    if (a && (a.covers(id) || a.reaches(id))) a.record(id)
    else if (b && (b.covers(id) || b.reaches(id))) {
      b.record(id)
      this.last = b
      this.other = a
    } else this.newSpace(id)
    return true
  }

  /** A space for an id no space covers or reaches, in place of the one used least recently (its bitmap reused). */
  private newSpace(id: number): void {
    const a = this.last
    const b = this.other
    if (!a) {
      this.last = new IdSpace(new Uint32Array(this.span / 32), this.span, id)
      return
    }
    if (!b) {
      this.other = a
      this.last = new IdSpace(new Uint32Array(this.span / 32), this.span, id)
      return
    }
    this.last = new IdSpace(b.bits, this.span, id)
    this.other = a
  }
}

/** The most one life's ids climb between two requests to the same peer (its requests to others in between). */
const JUMP = 2 ** 32

/** The ids of one space seen within `span` below its highest. */
class IdSpace {
  max: number

  constructor(
    readonly bits: Uint32Array,
    private readonly span: number,
    first: number,
  ) {
    bits.fill(0)
    this.max = first
    this.set(first)
  }

  /** `id` lies within the window: its bit says whether it was seen. */
  covers(id: number): boolean {
    return id <= this.max && id > this.max - this.span
  }

  /**
   * `id` lies above the window, near enough to be the same life's (JUMP): the window slides up to
   * it. Lives count from random points below 2^48, so another life's ids are almost never that near.
   */
  reaches(id: number): boolean {
    return id > this.max && id - this.max < JUMP
  }

  has(id: number): boolean {
    const i = id % this.span
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0
  }

  /** Records an id it covers or reaches; sliding up forgets the ids it passes. */
  record(id: number): void {
    if (id - this.max >= this.span) this.bits.fill(0)
    else for (let at = this.max + 1; at < id; at++) this.clear(at)
    this.max = Math.max(this.max, id)
    this.set(id)
  }

  private set(id: number): void {
    const i = id % this.span
    this.bits[i >>> 5] = this.bits[i >>> 5]! | (1 << (i & 31))
  }

  private clear(id: number): void {
    const i = id % this.span
    this.bits[i >>> 5] = this.bits[i >>> 5]! & ~(1 << (i & 31))
  }
}
