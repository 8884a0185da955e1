/**
 * Which replication messages a backup takes, by the epoch they carry. Views change often (every
 * finished copy publishes one), and a primary may apply a view a moment after its backups. So an
 * older epoch is taken from the primary our own view names, as long as no newer primary was
 * promised more (sync-promise.ts); from any other node it is refused, since that is exactly a
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
