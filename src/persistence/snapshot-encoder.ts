/**
 * Encodes a domain snapshot a group of objects at a time, pausing between groups, so that a big
 * domain (a healing copy, a compaction) does not hold the event loop for the whole encode, with
 * writes to other domains waiting behind it (docs/design.md, "Numbers behind the code"). The objects
 * are captured by reference first (they are immutable), so the result is the domain at the moment
 * of the call however long the encoding takes. The bytes are exactly `encodeValue(state.snapshot())`:
 * msgpack lets the elements of an array be encoded apart and joined under one array header.
 *
 * A healing copy sends the groups as parts instead (`encodeSnapshotParts`), each a snapshot of its
 * own objects, so that the receiver too takes it in pieces (snapshot-assembly.ts).
 */
import { concatBytes as concat } from '../util/bytes.js'
import { encodeValue } from '../wire/codec.js'
import type { DomainState } from '../replication/domain-state.js'
import type { Captured } from '../objects/object-table.js'
import { encodeRecord, toRecord } from '../objects/object-record.js'
import type { StoredObject } from '../objects/objects.js'

/** Objects encoded between two pauses: a fraction of a ms for small objects. */
export const SNAPSHOT_GROUP = 128

export async function encodeSnapshot(state: DomainState, pause: () => Promise<void>, group = SNAPSHOT_GROUP, headroom = 0): Promise<Uint8Array> {
  const { seq, epoch, objects } = state.capture()
  const pieces: Uint8Array[] = [head(seq, epoch), arrayHeader(objects.length)]
  for (let at = 0; at < objects.length; at += group) {
    if (at > 0) await pause()
    addElements(pieces, objects.slice(at, at + group))
  }
  return concat(pieces, headroom)
}

/**
 * The same bytes at once, for a caller that must send them before anything else it sends (a
 * resend to a lagging backup: appends queued after it must not overtake it). Cold objects are
 * copied as records; `encodeValue(state.snapshot())` decoded each one only to encode it again.
 */
export function encodeSnapshotNow(state: DomainState): Uint8Array {
  const { seq, epoch, objects } = state.capture()
  const pieces: Uint8Array[] = [head(seq, epoch), arrayHeader(objects.length)]
  addElements(pieces, objects)
  return concat(pieces)
}

/** Objects in a copy's first part; each next part doubles it, up to the group (`partSizes`). */
export const FIRST_PART = 16

/**
 * How many objects go in each part of a snapshot of `count` objects: `first`, twice that, and so
 * on up to `group`, then `group` each. A node's first healing copy runs its sending and receiving
 * code cold (not yet optimised by V8): full-size first parts held the event loops of both ends
 * long enough that the writes to other domains at the start of every healing were among its
 * slowest. Small first parts cost a copy two or three messages more.
 */
export function partSizes(count: number, group = SNAPSHOT_GROUP, first = FIRST_PART): number[] {
  const sizes: number[] = []
  let size = Math.max(1, Math.min(first, group))
  for (let at = 0; at === 0 || at < count; at += size, size = Math.min(group, 2 * size)) sizes.push(Math.min(size, Math.max(0, count - at)))
  return sizes
}

/**
 * The domain as it is at the call, as snapshots of their own (all with the same seq and epoch; at
 * least one part, even for an empty domain) of `partSizes` objects, encoded with pauses between them.
 */
export async function encodeSnapshotParts(state: DomainState, pause: () => Promise<void>, group = SNAPSHOT_GROUP, first = FIRST_PART): Promise<Uint8Array[]> {
  const { seq, epoch, objects } = state.capture()
  const top = head(seq, epoch)
  const parts: Uint8Array[] = []
  let at = 0
  for (const size of partSizes(objects.length, group, first)) {
    if (at > 0) await pause()
    const slice = objects.slice(at, at + size)
    at += size
    const pieces = [top, arrayHeader(slice.length)]
    addElements(pieces, slice)
    parts.push(concat(pieces))
  }
  return parts
}

/** `{ seq, epoch, objects: ` as msgpack, up to where the array of objects starts. */
function head(seq: number, epoch: number): Uint8Array {
  const bytes = encodeValue({ seq, epoch, objects: [] })
  if (bytes[bytes.length - 1] !== 0x90) throw new Error('snapshot head does not end with an empty array')
  return bytes.subarray(0, bytes.length - 1)
}

/**
 * Adds the objects' records (object-record.ts) as the elements of a msgpack array, without the
 * array's header, to `pieces`. Decoded objects are encoded (a group of them in one call); records
 * go in as they are (views: they are copied once, into the result).
 */
function addElements(pieces: Uint8Array[], objects: readonly Captured[]): void {
  if (!objects.some((o) => o instanceof Uint8Array)) {
    const bytes = encodeValue((objects as (readonly [string, StoredObject])[]).map(([id, o]) => toRecord(id, o)))
    pieces.push(bytes.subarray(arrayHeaderLength(bytes[0]!)))
    return
  }
  for (const o of objects) pieces.push(o instanceof Uint8Array ? o : encodeRecord(o[0], o[1]))
}

/** msgpack's array header, chosen as encodeValue chooses it. */
function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n)
  if (n < 0x10000) return Uint8Array.of(0xdc, n >> 8, n & 0xff)
  return Uint8Array.of(0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

function arrayHeaderLength(first: number): number {
  if ((first & 0xf0) === 0x90) return 1
  if (first === 0xdc) return 3
  if (first === 0xdd) return 5
  throw new Error(`not a msgpack array (first byte ${first})`)
}
