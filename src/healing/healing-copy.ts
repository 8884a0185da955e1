/**
 * Copies one domain to a healing target: first the bulk (a snapshot, or only the entries it
 * missed if it held the domain before and its log agrees) while writes go on, then the domain is
 * locked just long enough to ship what was written meanwhile, and the target becomes a backup.
 */
import { DomainMeshError, TimeoutError, type Retry, NotPrimaryError } from '../errors.js'
import type { NodeId } from '../ids.js'
import { sleep, yieldTo, type Clock } from '../util/clock.js'
import { encodeValue } from '../wire/codec.js'
import type { DomainReplica } from '../replication/replica.js'
import type { CopyReport } from '../replication/replica-types.js'
import type { LogEntry } from '../replication/log.js'

/** Where a target's log ends, asked of the target itself (undefined if it cannot answer). */
export type PositionOf = (domain: number, target: NodeId) => Promise<{ after: number; afterEpoch: number } | undefined>

/** A copy the view no longer asks for (the target left, or is no longer a target). */
export class CopyNotWantedError extends DomainMeshError {
  constructor(domain: number, target: NodeId) {
    super('COPY_NOT_WANTED', `copy of domain ${domain} to ${target} stopped: the view no longer names ${target} as its target`, { domain, target })
  }
}

/** The entries written during a copy are no longer in memory, so its delta cannot be sent (it is planned again). */
export class CopyDeltaGoneError extends DomainMeshError {
  static override readonly retry: Retry = 'safe'
  constructor(domain: number, target: NodeId, upTo: number) {
    super('COPY_DELTA_GONE', `copy of domain ${domain} to ${target}: the entries after ${upTo} are no longer in memory`, { domain, target, upTo })
  }
}

export interface CopyOptions {
  clock: Clock
  /** Resend after this long without an ack. */
  intervalMs: number
  /** Give the copy up after this long. */
  timeoutMs: number
  /** Between two pieces (log groups, snapshot parts); 0: one event-loop turn. */
  pieceGapMs: number
  /** Resolves once this node's writes leave room for the next piece (see foreground.ts). */
  quiet?: () => Promise<void>
  positionOf: PositionOf
  /**
   * Asked before every send: a copy to a target the view dropped (it went down, or a later view
   * placed the domain elsewhere) must not hold the queue until its deadline.
   */
  wanted: () => boolean
}

export async function copyDomain(r: DomainReplica, target: NodeId, opts: CopyOptions): Promise<CopyReport> {
  const { clock, timeoutMs, positionOf, wanted } = opts
  const stillPrimary = () => {
    if (r.role !== 'primary') throw new NotPrimaryError(r.domain, r.primary)
    if (!wanted()) throw new CopyNotWantedError(r.domain, target)
  }
  stillPrimary()
  const startedAt = clock.now()
  const copy: Copy = {
    r,
    target,
    opts,
    deadline: startedAt + timeoutMs,
    what: `copy of domain ${r.domain} to ${target}`,
    pause: async () => {
      await (opts.pieceGapMs > 0 ? sleep(clock, opts.pieceGapMs) : yieldTo(clock))
      await opts.quiet?.()
    },
    stillPrimary,
    waitedMs: 0,
    resends: 0,
  }
  const pos = await positionOf(r.domain, target)
  const positionMs = clock.now() - startedAt
  const s = r.state
  const missed = pos && pos.after <= s.lastSeq && s.epochAt(pos.after) === pos.afterEpoch ? s.entriesAfter(pos.after) : undefined
  const upTo = s.lastSeq
  const release = r.holdLog(upTo)
  try {
    const { bytes, as } = await sendBulk(copy, upTo, missed)
    const unlock = r.lock()
    const lockedAt = clock.now()
    try {
      stillPrimary()
      const delta = r.state.entriesAfter(upTo)
      if (!delta) throw new CopyDeltaGoneError(r.domain, target, upTo)
      await r.acked.until(target, r.state.lastSeq, copy.deadline, copy.what, () => r.sendEntriesTo(target, delta), stillPrimary)
      r.addBackup(target)
    } finally {
      unlock()
    }
    const now = clock.now()
    return { bytes, lockMs: now - lockedAt, as, tookMs: now - startedAt, positionMs, waitedMs: copy.waitedMs, resends: copy.resends }
  } finally {
    release()
  }
}

interface Copy {
  r: DomainReplica
  target: NodeId
  opts: CopyOptions
  deadline: number
  what: string
  pause: () => Promise<void>
  stillPrimary: () => void
  /** Time with every piece out and no ack yet (a link still opening, a lost piece): no work here. */
  waitedMs: number
  /** Times every piece was sent again for want of an ack within `intervalMs` of the last send. */
  resends: number
}

/**
 * Brings the target to `upTo` while writes go on: the entries it missed if it reported a position
 * our log still reaches, else a snapshot. Returns the bytes sent.
 */
async function sendBulk(c: Copy, upTo: number, missed: LogEntry[] | undefined): Promise<{ bytes: number; as: CopyReport['as'] }> {
  const { r, target, opts } = c
  let bytes = 0
  if (missed) {
    const groups: LogEntry[][] = []
    for (let at = 0; at < missed.length; at += COPY_GROUP) groups.push(missed.slice(at, at + COPY_GROUP))
    // The target already holds all we have (a member back on its disk): nothing is missing, but
    // an ack is still owed, and only an append asks for one. So our last entry goes again, which
    // the target checks against its own at that seq (on a clash it asks for a snapshot and does
    // not ack). Sending nothing made every such copy wait out `soon` below and then send a
    // snapshot of what the target had. Once our log no longer holds that entry there is nothing
    // to check the target's copy against, so the snapshot it is (an empty append was acked on
    // seq alone, and a copy that only looked whole, from a node paused while the domain moved
    // on, became primary without the writes it lacked: sim seed 288).
    if (groups.length === 0) {
      const last = r.state.entriesAfter(upTo - 1)
      if (last && last.length > 0) groups.push(last)
    }
    let counted = 0
    const sends = groups.map((group, i) => () => {
      r.sendEntriesTo(target, group)
      // Counted once, when first sent (resends send the same groups).
      if (i === counted) {
        counted++
        bytes += encodeValue(group).byteLength
      }
    })
    // The report may be stale (the target restarted since): if the delta does not take, fall back.
    const soon = Math.min(c.deadline, opts.clock.now() + 5 * opts.intervalMs)
    const took = await untilAcked(c, upTo, soon, sends).then(
      () => true,
      (err: unknown) => {
        if (err instanceof TimeoutError) return false
        throw err
      },
    )
    if (took) return { bytes, as: missed.length > 0 ? 'entries' : 'nothing' }
  }
  // Taken now, at upTo; resends reuse it. Encoded in parts, so writes run between them.
  const parts = await r.encodeSnapshotParts()
  c.stillPrimary()
  // Only an ack of this snapshot counts: the target's own copy may be ahead of ours (a deposed
  // primary's log) or our domain may be empty, and neither may pass for a finished copy.
  r.acked.expectNothing(target)
  await untilAcked(c, upTo, c.deadline, parts.map((p, i) => () => r.sendSnapshotPart(target, p, i, parts.length)))
  return { bytes: parts.reduce((n, p) => n + p.byteLength, 0), as: 'snapshot' }
}

/** Entries per append when a copy sends a log. */
export const COPY_GROUP = 128

/**
 * Sends in pieces (log groups, snapshot parts) until the target has acked `upTo`, pausing between
 * pieces: a new owner that got a domain's whole log as one append, or its snapshot as one message,
 * held the event loops of both ends for several ms at a time (encode, send, decode, apply,
 * persist). A resend (every intervalMs until acked) waits for the
 * pieces of the last one to be out, and no piece goes out once the target has acked: a part arriving
 * after the copy finished would start the target on the same snapshot again.
 */
async function untilAcked(c: Copy, upTo: number, deadline: number, sends: (() => void)[]): Promise<void> {
  const clock = c.opts.clock
  let sending: Promise<void> | undefined
  let failure: unknown
  let done = false
  /** When the last piece went out, and when `send` was last called (each call after the first is a resend). */
  let outAt: number | undefined
  let calledAt: number | undefined
  const run = async () => {
    for (let i = 0; i < sends.length && !done; i++) {
      if (i > 0) await c.pause()
      if (!done) sends[i]!()
    }
    outAt = clock.now()
  }
  const idleSinceOut = () => (sending === undefined && outAt !== undefined && calledAt !== undefined ? clock.now() - Math.max(outAt, calledAt) : 0)
  const send = () => {
    if (calledAt !== undefined) {
      c.waitedMs += idleSinceOut()
      // Pieces still going out: this interval's send is a no-op, not a resend.
      if (sending === undefined) c.resends++
    }
    calledAt = clock.now()
    sending ??= run()
      .catch((err: unknown) => void (failure = err))
      .finally(() => (sending = undefined))
  }
  let acked = false
  try {
    await c.r.acked.until(c.target, upTo, deadline, c.what, send, () => {
      if (failure) throw failure
      c.stillPrimary()
    })
    acked = true
  } finally {
    done = true
    if (!acked) c.waitedMs += idleSinceOut()
  }
  if (failure) throw failure
}
