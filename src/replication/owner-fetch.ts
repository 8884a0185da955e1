/**
 * The fetch exchange between the owners of a domain, both sides:
 *   - a new primary asks every up owner what it holds beyond its own log and adopts the newest
 *     answer before it serves (`syncFromOwners`);
 *   - an owner answers with nothing, the entries after the asker's position, or a snapshot
 *     (`answerFetch`);
 *   - a healing primary asks its target where its copy ends, to send only what it missed
 *     (`positionOf`).
 */
import type { NodeId } from '../ids.js'
import { sleep, type Clock } from '../util/clock.js'
import type { Snapshot } from './domain-state.js'
import type { LogEntry } from './log.js'
import type { FetchMsg } from './messages.js'
import type { DomainReplica } from './replica.js'

export interface FetchResult {
  lastSeq: number
  lastEpoch: number
  entries?: LogEntry[]
  snapshot?: Snapshot
}

export interface FetchDeps {
  clock: Clock
  fetch(from: NodeId, msg: FetchMsg, timeoutMs: number): Promise<FetchResult>
  /** Between two rounds of asking; a fetch times out after five of these. */
  resendAfterMs: number
}

const newer = (a: { lastEpoch: number; lastSeq: number }, b: { lastEpoch: number; lastSeq: number }): boolean =>
  a.lastEpoch > b.lastEpoch || (a.lastEpoch === b.lastEpoch && a.lastSeq > b.lastSeq)

/** A new primary asks what we have beyond its log. */
export function answerFetch(r: DomainReplica | undefined, from: NodeId, msg: FetchMsg, snapshotSent: () => void): FetchResult {
  if (!r) return { lastSeq: 0, lastEpoch: 0 }
  if (r.role === 'primary' && msg.epoch > r.epoch) r.onNack({ domain: msg.domain, epoch: msg.epoch })
  else r.promise(from, msg.epoch)
  const s = r.state
  const mine = { lastSeq: s.lastSeq, lastEpoch: s.lastEpoch }
  if (!newer(mine, { lastSeq: msg.after, lastEpoch: msg.afterEpoch })) return mine
  const entries = s.epochAt(msg.after) === msg.afterEpoch ? s.entriesAfter(msg.after) : undefined
  if (entries) return { ...mine, entries }
  snapshotSent()
  return { ...mine, snapshot: s.snapshot() }
}

/**
 * A new primary first learns what the other owners have. Every up owner must answer: one that
 * cannot be reached yet (a restarted node's links are still being set up) is asked again each
 * `resendAfterMs`, with the owner list re-read from the current view (`owners`, undefined once
 * there is none), so a survivor that really died drops out when the view says so. Writes to the
 * domain wait meanwhile; serving from a copy that may be behind would lose acknowledged writes.
 */
export async function syncFromOwners(replica: DomainReplica, epoch: number, owners: () => readonly NodeId[] | undefined, deps: FetchDeps): Promise<void> {
  const answered = new Map<NodeId, FetchResult>()
  for (;;) {
    if (replica.role !== 'primary') return
    const now = owners()
    if (!now) return
    const ask = now.filter((n) => !answered.has(n))
    if (ask.length === 0) break
    const s = replica.state
    // A short timeout: a fetch lost on the way is asked again, not waited for.
    const results = await Promise.allSettled(ask.map((n) => deps.fetch(n, { domain: replica.domain, epoch, after: s.lastSeq, afterEpoch: s.lastEpoch }, 5 * deps.resendAfterMs)))
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') answered.set(ask[i]!, r.value)
    })
    if (results.some((r) => r.status === 'rejected')) await sleep(deps.clock, deps.resendAfterMs)
  }
  const s = replica.state
  let best: { node: NodeId; got: FetchResult } | undefined
  for (const [node, got] of answered) if (newer(got, best?.got ?? { lastSeq: s.lastSeq, lastEpoch: s.lastEpoch })) best = { node, got }
  if (best && (best.got.entries?.length || best.got.snapshot)) replica.adopt(best.node, best.got)
}

/**
 * Asks a healing target where its copy of the domain ends (a fetch that asks for nothing newer
 * than "everything"). A node that just restarted may need seconds before its links are up, and
 * a snapshot costs far more than that wait: it is asked again for up to 10 s.
 */
export async function positionOf(domain: number, target: NodeId, epoch: number, deps: FetchDeps): Promise<{ after: number; afterEpoch: number } | undefined> {
  const all = Number.MAX_SAFE_INTEGER
  const until = deps.clock.now() + 10_000
  while (deps.clock.now() < until) {
    try {
      const r = await deps.fetch(target, { domain, epoch, after: all, afterEpoch: all }, 5 * deps.resendAfterMs)
      return { after: r.lastSeq, afterEpoch: r.lastEpoch }
    } catch {
      // Not reachable yet, or the answer was lost: ask again shortly.
      await sleep(deps.clock, deps.resendAfterMs)
    }
  }
  return undefined // no answer: the copy is a snapshot
}
