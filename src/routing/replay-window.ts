/**
 * Which request ids one peer has already sent us, as an anti-replay window (IPsec's, RFC 4303
 * §3.4.3): a bitmap of the last `span` ids below the highest one seen. A peer numbers its requests
 * from one counter, so the ids that reach us climb, with gaps for the requests it sent elsewhere.
 * The window used to be a Set of the last 20,000 ids plus a ring of them: 20,000 heap numbers (ids
 * are above 2^31) and a hash table, about 1.1 MB per peer that sends us requests, all of it old
 * generation the garbage collector walks. This is 32 KB, and O(1) per request.
 */
export class ReplayWindow {
  private readonly bits: Uint32Array
  /** The highest id seen, or -1 before the first. */
  private max = -1

  constructor(private readonly span = 1 << 18) {
    if (!Number.isInteger(span) || span < 32 || span % 32 !== 0) throw new RangeError(`replay window span must be a positive multiple of 32, not ${span}`)
    this.bits = new Uint32Array(span / 32)
  }

  /**
   * True the first time `id` is seen, false for a repeat. An id `span` or more below the highest
   * is too old to tell and counts as new: the peer sent that many requests since, which a
   * duplicated or delayed frame on an ordered channel never spans.
   */
  firstTime(id: number): boolean {
    if (this.max < 0 || id > this.max) {
      this.advanceTo(id)
      this.set(id)
      return true
    }
    if (id <= this.max - this.span) return true
    if (this.has(id)) return false
    this.set(id)
    return true
  }

  /** Forgets the ids the window slides past on its way up to `id`. */
  private advanceTo(id: number): void {
    if (this.max < 0 || id - this.max >= this.span) this.bits.fill(0)
    else for (let at = this.max + 1; at < id; at++) this.clear(at)
    this.max = id
  }

  private has(id: number): boolean {
    const i = id % this.span
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0
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
