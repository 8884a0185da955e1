/**
 * Puts together a snapshot that arrives in parts (a healing copy sends one part per 128 objects).
 * Each part is decoded, checked and taken in as its own message, so a receiver never holds its event
 * loop for a whole domain: a snapshot in one piece is decoded, checked and installed in one go, and
 * writes to other domains wait behind it (docs/design.md, "Numbers behind the code").
 * The parts are applied to a state of their own; the replica swaps it in once the last part is there.
 */
import type { NodeId } from '../ids.js'
import { DomainState, type IncomingSnapshot } from '../replication/domain-state.js'

interface Building {
  from: NodeId
  seq: number
  epoch: number
  parts: number
  got: Set<number>
  state: DomainState
}

export class SnapshotAssembly {
  private building: Building | undefined

  constructor(private readonly domain: number) {}

  /**
   * Takes part `part` of `parts` (0-based; the schema checks part < parts). Returns the whole
   * state once every part is in, else undefined. A part of another snapshot (another sender, seq or
   * epoch) starts over: a copy that was given up on, or resent from a later point, is never mixed
   * with an earlier one. A part seen before (a resend of the whole snapshot) is ignored.
   */
  add(from: NodeId, snap: IncomingSnapshot, part: number, parts: number): DomainState | undefined {
    if (parts === 1) {
      this.building = undefined
      return DomainState.fromSnapshot(this.domain, snap)
    }
    let b = this.building
    if (!b || b.from !== from || b.seq !== snap.seq || b.epoch !== snap.epoch || b.parts !== parts) {
      b = this.building = { from, seq: snap.seq, epoch: snap.epoch, parts, got: new Set(), state: DomainState.empty(this.domain, snap.seq, snap.epoch) }
    }
    if (b.got.has(part)) return undefined
    b.got.add(part)
    b.state.addSnapshotObjects(snap)
    if (b.got.size < parts) return undefined
    this.building = undefined
    return b.state
  }

  /** Forgets a snapshot half received (our state was replaced another way, or the replica closes). */
  clear(): void {
    this.building = undefined
  }

  /** Parts still missing of the snapshot being put together (0 if none is). */
  get missing(): number {
    return this.building ? this.building.parts - this.building.got.size : 0
  }
}
