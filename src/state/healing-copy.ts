/**
 * Copies one domain to a healing target: first the bulk (a snapshot, or only the entries it
 * missed if it held the domain before and its log agrees) while writes go on, then the domain is
 * locked just long enough to ship what was written meanwhile, and the target becomes a backup.
 */
import { DomainMeshError, TimeoutError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { yieldTo, type Clock } from '../util/clock.js'
import { encodeValue } from '../wire/codec.js'
import { NotPrimaryError } from './errors.js'
import type { DomainReplica } from './replica.js'
import type { CopyReport } from './replica-types.js'
import type { LogEntry } from './log.js'

/** Where a target's log ends, asked of the target itself (undefined if it cannot answer). */
export type PositionOf = (domain: number, target: NodeId) => Promise<{ after: number; afterEpoch: number } | undefined>

/** A copy the view no longer asks for (the target left, or is no longer a target). */
export class CopyNotWantedError extends DomainMeshError {
  constructor(domain: number, target: NodeId) {
    super('COPY_NOT_WANTED', `copy of domain ${domain} to ${target} stopped: the view no longer names ${target} as its target`, { domain, target })
  }
}

/**
 * `wanted` is asked before every send: a copy to a target the view dropped (it went down, or a
 * later view placed the domain elsewhere) must not hold the queue until its deadline.
 */
export async function copyDomain(r: DomainReplica, target: NodeId, clock: Clock, intervalMs: number, timeoutMs: number, positionOf: PositionOf, wanted: () => boolean): Promise<CopyReport> {
  const stillPrimary = () => {
    if (r.role !== 'primary') throw new NotPrimaryError(r.domain, r.primary)
    if (!wanted()) throw new CopyNotWantedError(r.domain, target)
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
    // A resend (every intervalMs until acked) waits for the groups of the last one to be out.
    let sending: Promise<void> | undefined
    let failure: unknown
    const send = () => {
      sending ??= sendInGroups(r, target, entries, () => yieldTo(clock))
        // Once fallen back to a snapshot (below), a late end of this loop must not overwrite its size.
        .then((n) => void (missed && (bytes = n)), (err: unknown) => void (failure = err))
        .finally(() => (sending = undefined))
    }
    // The report may be stale (the target restarted since): if the delta does not take, fall back.
    const soon = Math.min(deadline, clock.now() + 5 * intervalMs)
    await r.acked.until(target, upTo, soon, what, send, stillPrimary).catch((err: unknown) => {
      if (!(err instanceof TimeoutError)) throw err
      missed = undefined
    })
    if (failure) throw failure
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

/** Entries per append when a copy sends a log. */
export const COPY_GROUP = 128

/**
 * Sends entries in one append per group, not one for all: a new owner that gets a domain's whole
 * log (1,560 entries in the healing benchmark) took it as one 170 KB append, which held the event
 * loops of both ends for 5-13 ms at a time (encode, send, apply, persist). Groups leave queued
 * I/O room in between, at either end. Returns the encoded size of the entries.
 */
async function sendInGroups(r: DomainReplica, target: NodeId, entries: LogEntry[], pause: () => Promise<void>): Promise<number> {
  let bytes = 0
  for (let at = 0; at < entries.length; at += COPY_GROUP) {
    if (at > 0) await pause()
    const group = entries.slice(at, at + COPY_GROUP)
    r.sendEntriesTo(target, group)
    bytes += encodeValue(group).byteLength
  }
  return bytes
}
