/**
 * Which replication messages a backup takes, by the epoch they carry. Views change often (every
 * finished copy publishes one), and a primary may apply a view a moment after its backups. So an
 * older epoch is taken from the primary our own view names, as long as no newer primary was
 * promised more (SyncPromise, below); from any other node it is refused, since that is exactly a
 * primary that has been replaced. A newer epoch from another node makes that node our primary.
 */
import type { NodeId } from '../ids.js'

export interface Follower {
  role: 'primary' | 'backup'
  epoch: number
  primary: NodeId | undefined
}

/** Taken: the replica's epoch and primary from now on. Refused: the epoch to nack with. */
export type Admission = { taken: true; epoch: number; primary: NodeId } | { taken: false; nack: number }

/** `floor`: the lowest epoch `from` may send under (SyncPromise.floorFor). */
export function admitEpoch(me: Follower, from: NodeId, epoch: number, floor: number): Admission {
  if (from === me.primary && me.role === 'backup' && epoch >= floor) return { taken: true, epoch: Math.max(me.epoch, epoch), primary: from }
  const least = Math.max(me.epoch, floor)
  return epoch < least ? { taken: false, nack: least } : { taken: true, epoch, primary: from }
}

/**
 * What a backup promised a newer primary by answering its sync fetch at `epoch`: that primary
 * leads the domain from there, from our log as it was. Until our own view gets to that epoch, the
 * primary the view still names may not send below it: an append of the old primary acked after
 * our answer could commit (with `writeAcks` below 'all') a write that log lacks.
 */
export class SyncPromise {
  private promised: { to: NodeId; epoch: number } | undefined

  /** Records the answer to `to`'s fetch at `epoch`, if it is newer than what we know (`current`). */
  give(to: NodeId, epoch: number, current: number): void {
    if (epoch > Math.max(current, this.promised?.epoch ?? 0)) this.promised = { to, epoch }
  }

  /** The lowest epoch `from` may send under: the promised one for anyone but the node promised to. */
  floorFor(from: NodeId): number {
    return this.promised && from !== this.promised.to ? this.promised.epoch : 0
  }

  /** Our view reached `epoch`: a promise up to there is kept by the view itself. */
  settle(epoch: number): void {
    if (this.promised && epoch >= this.promised.epoch) this.promised = undefined
  }
}
