/**
 * A backup's intake of its primary's log. Entries apply strictly in seq order: those that arrive
 * ahead of their turn wait here, and the primary is asked for what is missing, again every
 * `intervalMs` while a gap stays open or nothing new has arrived. An entry that does not apply
 * means our copy disagrees with the primary's log: then the intake asks for a snapshot instead.
 */
import type { NodeId } from '../ids.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { DomainState } from './domain-state.js'
import type { LogEntry } from './log.js'

export interface IntakeHost {
  /** The replica's state now (a snapshot replaces the object). */
  state(): DomainState
  /** Persists an entry that was just applied. */
  persist(entry: LogEntry): void
  /** Asks `to` for the entries after `after` (`afterEpoch` lets it check our logs agree), or for its snapshot. */
  ask(to: NodeId, after: number, afterEpoch: number, snapshot: boolean): void
  /** The primary we follow, while we are a backup. */
  following(): NodeId | undefined
  failed(err: unknown): void
}

export class Intake {
  private readonly ahead = new Map<number, LogEntry>()
  /** Who sent what waits in `ahead`: another primary's log may differ at those seqs. */
  private aheadFrom: NodeId | undefined
  private timer: TimerHandle | undefined

  constructor(
    private readonly host: IntakeHost,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /**
   * Entries from `from`, whose log ends at `head`: what is next applies, what is missing is asked
   * for. Returns false when our log disagrees with the primary's (Raft's log matching): an entry
   * we hold at a seq under another epoch. Such a tail was never committed (a deposed primary's);
   * a snapshot is asked for, and nothing may be acked meanwhile, or the primary would count what
   * we hold as its own entries. (A `head` below our log proves nothing: appends may arrive late.)
   */
  receive(from: NodeId, entries: readonly LogEntry[], head: number, prev?: number): boolean {
    const state = this.host.state()
    const last = state.lastSeq
    // Held back from a primary we no longer follow: its entries past our log may be ones the new
    // primary never had, and would be applied once the gap before them filled.
    if (this.aheadFrom !== from) this.ahead.clear()
    this.aheadFrom = from
    // Raft's log matching: the entry that would follow our log must follow it in the primary's
    // log too (the same epoch at our last seq), as well as every entry we already hold.
    const next = entries.findIndex((e) => e.seq === last + 1)
    const before = next > 0 ? entries[next - 1]!.epoch : next === 0 ? prev : undefined
    const clash = entries.some((e) => e.seq <= last && (state.epochAt(e.seq) ?? e.epoch) !== e.epoch) || (before !== undefined && last > 0 && state.lastEpoch !== before)
    if (clash) {
      this.ahead.clear()
      this.stop()
      this.host.ask(from, last, state.lastEpoch, true)
      return false
    }
    for (const e of entries) if (e.seq > last) this.ahead.set(e.seq, e)
    this.drain(from)
    if (this.ahead.size > 0 || head > this.host.state().lastSeq) this.ask(from)
    return true
  }

  /** A snapshot up to `seq` replaced the state: entries it covers are no longer waited for. */
  snapshotInstalled(from: NodeId, seq: number): void {
    for (const s of [...this.ahead.keys()]) if (s <= seq) this.ahead.delete(s)
    this.drain(from)
  }

  /** Asks `to` for what follows our log, and again every interval while still missing. */
  ask(to: NodeId): void {
    if (this.timer) return
    const state = this.host.state()
    const at = state.lastSeq
    this.host.ask(to, at, state.epochAt(at) ?? 0, false)
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      const primary = this.host.following()
      if (primary && (this.ahead.size > 0 || this.host.state().lastSeq === at)) this.ask(primary)
    }, this.intervalMs)
  }

  /** Forgets what waits and stops asking (this replica became primary). */
  reset(): void {
    this.ahead.clear()
    this.stop()
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private drain(from: NodeId): void {
    for (let next = this.ahead.get(this.host.state().lastSeq + 1); next; next = this.ahead.get(this.host.state().lastSeq + 1)) {
      this.ahead.delete(next.seq)
      const state = this.host.state()
      try {
        state.apply(next)
      } catch (err) {
        this.host.failed(err)
        this.ahead.clear()
        this.host.ask(from, state.lastSeq, state.lastEpoch, true)
        return
      }
      this.host.persist(next)
    }
    if (this.ahead.size === 0) this.stop()
  }
}
