/**
 * The storage side of a replica: applied entries are written in group commits (everything
 * applied while the previous write was in flight goes in the next one), and the log is compacted
 * into a snapshot once its segments outgrow it. Subclasses hear about progress in `onPersisted`.
 */
import type { DomainState } from '../replication/domain-state.js'
import type { LogEntry } from '../replication/log.js'
import type { DomainPersistence } from './persistence.js'

export abstract class ReplicaStore {
  /** Highest seq known to be on disk. */
  protected persistedSeq: number
  private unpersisted: LogEntry[] = []
  private installSnapshot = false
  /**
   * Whether a group commit is scheduled or running. A flag and a list of waiters, not a promise
   * chain: every domain starts a commit on most turns of a busy node, and the chain's promises
   * and closures were the largest allocation of the persistence path.
   */
  private flushBusy = false
  private flushWaiters: (() => void)[] = []
  /** Seqs from which a healing copy still needs the log in memory (its delta), see `holdLog`. */
  private holds: number[] = []

  constructor(
    public state: DomainState,
    private readonly persistence: DomainPersistence,
    private readonly retainEntries: number,
    private readonly onFailure: (err: unknown) => void,
    /**
     * Where a group commit starts: `defer`, after the I/O phase, so the frames that phase sends
     * (appends, acks) leave before this thread spends its time setting up a file-system write.
     */
    private readonly later: (fn: () => void) => void,
  ) {
    this.persistedSeq = state.lastSeq
  }

  get domain(): number {
    return this.state.domain
  }

  protected get flushing(): boolean {
    return this.flushBusy
  }

  protected abstract onPersisted(): void

  /** Up to where every copy that counts holds the log: entries at or below it may be forgotten. */
  protected abstract logFloor(): number

  protected persist(entry: LogEntry): void {
    this.unpersisted.push(entry)
    this.flush()
  }

  /**
   * Forgets log entries held in memory once they are older than the last `retainEntries` and at
   * or below `floor` (what every copy that counts is known to hold): cut only at a compaction, a
   * log of small patches outgrows the objects it changes many times over (docs/design.md,
   * "Numbers behind the code"). A copy that lags further back gets a snapshot instead.
   */
  protected trimLog(): void {
    // Cut only once the log is twice as long as kept: the slice is then paid once per
    // `retainEntries` writes, not on every write.
    if (this.state.logLength <= 2 * this.retainEntries) return
    this.state.truncateLog(this.kept(Math.max(this.retainEntries, this.state.lastSeq - this.logFloor())))
  }

  /**
   * Cuts the log of a domain going quiet to its last `keep` entries, keeping those after
   * `logFloor` and any a healing copy holds. The trim above lets the log grow to twice what it keeps
   * before cutting it, so a quiet domain would hold 1-2x `retainEntries` entries for good.
   */
  protected restLog(keep: number): void {
    this.state.truncateLog(this.kept(Math.max(keep, this.state.lastSeq - this.logFloor())))
  }

  /**
   * Keeps every entry after `seq` in memory until the returned release is called. A healing copy
   * sends a snapshot at `seq` and then, with the domain locked, the entries written since: a
   * compaction meanwhile (or a trim, with a small `retainEntries`) cut them, the delta came out
   * empty, and the copy waited for an ack that could not come until its deadline, holding the
   * domain's writes for all that time.
   */
  holdLog(seq: number): () => void {
    this.holds.push(seq)
    return () => {
      const i = this.holds.indexOf(seq)
      if (i >= 0) this.holds.splice(i, 1)
    }
  }

  /** How many entries to keep: `n`, or more while a hold needs them. */
  private kept(n: number): number {
    return this.holds.length === 0 ? n : Math.max(n, this.state.lastSeq - Math.min(...this.holds))
  }

  /** Swaps in a whole new state (a snapshot from another replica); it is written as a snapshot. */
  protected replaceState(state: DomainState): void {
    this.state = state
    this.unpersisted = []
    this.installSnapshot = true
    this.persistedSeq = Math.min(this.persistedSeq, state.lastSeq)
    this.flush()
  }

  /** Resolves once everything applied so far is on disk. */
  async flushed(): Promise<void> {
    while (this.flushBusy) await new Promise<void>((resolve) => this.flushWaiters.push(resolve))
  }

  /** Forgets this domain's copy on disk (it lives elsewhere now). */
  async drop(): Promise<void> {
    await this.flushed()
    await this.persistence.drop()
  }

  private flush(): void {
    if (this.flushBusy) return
    this.flushBusy = true
    this.later(() => {
      void this.flushLoop().finally(() => {
        this.flushBusy = false
        // Entries that arrived between the loop's last check and now still need their commit.
        if (this.unpersisted.length > 0 || this.installSnapshot) return this.flush()
        const waiters = this.flushWaiters
        this.flushWaiters = []
        for (const w of waiters) w()
      })
    })
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.unpersisted.length > 0 || this.installSnapshot) {
        if (this.installSnapshot || this.persistence.needsCompaction()) {
          this.installSnapshot = false
          this.unpersisted = []
          const upTo = this.state.lastSeq
          await this.persistence.writeSnapshot(this.state)
          this.state.truncateLog(this.kept(this.retainEntries))
          this.persistedSeq = upTo
        } else {
          const batch = this.unpersisted
          this.unpersisted = []
          await this.persistence.append(batch)
          this.persistedSeq = Math.max(this.persistedSeq, batch[batch.length - 1]!.seq)
        }
        this.onPersisted()
      }
    } catch (err) {
      this.onFailure(err)
    }
  }
}
