/**
 * What a backup promised a newer primary by answering its sync fetch at `epoch`: that primary
 * leads the domain from there, from our log as it was. Until our own view gets to that epoch, the
 * primary the view still names may not send below it: an append of the old primary acked after
 * our answer could commit (with `writeAcks` below 'all') a write that log lacks.
 */
import type { NodeId } from '../ids.js'

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
