/**
 * Copies one domain to a healing target: first the bulk (a snapshot, or only the entries it
 * missed if it held the domain before and its log agrees) while writes go on, then the domain is
 * locked just long enough to ship what was written meanwhile, and the target becomes a backup.
 */
import { TimeoutError } from '../errors.js'
import type { NodeId } from '../ids.js'
import type { Clock } from '../util/clock.js'
import { encodeValue } from '../wire/codec.js'
import { NotPrimaryError } from './errors.js'
import type { DomainReplica } from './replica.js'
import type { CopyReport } from './replica-types.js'

/** Where a target's log ends, asked of the target itself (undefined if it cannot answer). */
export type PositionOf = (domain: number, target: NodeId) => Promise<{ after: number; afterEpoch: number } | undefined>

export async function copyDomain(r: DomainReplica, target: NodeId, clock: Clock, intervalMs: number, timeoutMs: number, positionOf: PositionOf): Promise<CopyReport> {
  const stillPrimary = () => {
    if (r.role !== 'primary') throw new NotPrimaryError(r.domain, r.primary)
  }
  stillPrimary()
  const deadline = clock.now() + timeoutMs
  const what = `copy of domain ${r.domain} to ${target}`
  const pos = await positionOf(r.domain, target)
  const s = r.state
  let missed = pos && pos.after <= s.lastSeq && s.epochAt(pos.after) === pos.afterEpoch ? s.entriesAfter(pos.after) : undefined
  const upTo = s.lastSeq
  let bytes = 0
  if (missed) {
    const entries = missed
    bytes = encodeValue(entries).byteLength
    // The report may be stale (the target restarted since): if the delta does not take, fall back.
    const soon = Math.min(deadline, clock.now() + 5 * intervalMs)
    await r.acked.until(target, upTo, soon, what, () => r.sendEntriesTo(target, entries), stillPrimary).catch((err: unknown) => {
      if (!(err instanceof TimeoutError)) throw err
      missed = undefined
    })
  }
  if (!missed) {
    // Taken now, at upTo; resends reuse it. Encoded in groups, so writes run between them.
    const snapshot = await r.encodeSnapshot()
    bytes = snapshot.byteLength
    stillPrimary()
    await r.acked.until(target, upTo, deadline, what, () => r.sendSnapshotBytes(target, snapshot), stillPrimary)
  }
  const unlock = r.lock()
  const lockedAt = clock.now()
  try {
    stillPrimary()
    const delta = r.state.entriesAfter(upTo) ?? []
    await r.acked.until(target, r.state.lastSeq, deadline, what, () => r.sendEntriesTo(target, delta), stillPrimary)
    r.addBackup(target)
  } finally {
    unlock()
  }
  return { bytes, lockMs: clock.now() - lockedAt }
}
