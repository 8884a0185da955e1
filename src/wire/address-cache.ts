/**
 * The addresses a receiver has parsed before, by their absolute form. A frame names its addresses
 * as strings, and nearly every frame on a link names the same few (the two store engines), so
 * parsing each of them again on every frame was a third of decoding a small frame. The objects
 * are frozen: one of them stands in every envelope that names it. Bounded, so a peer sending ever
 * new addresses costs a re-parse, never memory.
 */
import { parseAddress, type Address } from '../routing/address.js'

export class AddressCache {
  private readonly known = new Map<string, Address>()

  constructor(private readonly max = 1024) {}

  /** The address `s` names; throws InvalidAddressError like parseAddress. */
  parse(s: string): Address {
    let a = this.known.get(s)
    if (a === undefined) {
      a = Object.freeze(parseAddress(s))
      if (this.known.size >= this.max) this.known.clear()
      this.known.set(s, a)
    }
    return a
  }
}
