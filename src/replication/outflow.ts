/**
 * A primary's stream of its log to its backups (the counterpart of a backup's `Intake`). Entries
 * written within one microtask leave as one append to every backup. While any backup's ack is
 * behind the log, an empty append (a probe) goes out every `intervalMs`: it tells the backups
 * where the log and the commit point are, so a lost append or ack is repaired even after the
 * write that carried it has timed out for its caller.
 */
import type { NodeId } from '../ids.js'
import { microtask, type Clock, type TimerHandle } from '../util/clock.js'
import type { LogEntry } from './log.js'
import type { OutgoingReplMessage } from './messages.js'

export interface OutflowHost {
  /** The backups to send to, or undefined once this replica is no longer a serving primary. */
  backups(): readonly NodeId[] | undefined
  /** An append carrying `entries`, the log head and the commit point as they are now. */
  append(entries: LogEntry[]): OutgoingReplMessage
  send(to: NodeId, msg: OutgoingReplMessage): void
  /** Whether some backup's ack is behind the log. */
  behind(): boolean
}

export class Outflow {
  private queued: LogEntry[] = []
  /** Nodes the queued entries' writes came from (they wait for the commit, not for their copy). */
  private origins: NodeId[] = []
  private scheduled = false
  private probeTimer: TimerHandle | undefined

  constructor(
    private readonly host: OutflowHost,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /**
   * Sends `entry` with whatever else this microtask writes; without one, a probe. `origin`, the
   * node the write came from, gets its copy last: it waits for the commit, which needs every
   * copy anyway, while the other copies are what the rest of the cluster reads and watches. The
   * first send of a fan-out is the slow one at low load (on loopback it wakes the receiver's
   * thread, which on two cores may take this one's).
   */
  send(entry?: LogEntry, origin?: NodeId): void {
    if (entry) this.queued.push(entry)
    if (origin !== undefined && !this.origins.includes(origin)) this.origins.push(origin)
    if (this.scheduled) return
    this.scheduled = true
    microtask(() => {
      this.scheduled = false
      const entries = this.queued
      const origins = this.origins
      this.queued = []
      this.origins = []
      const backups = this.host.backups()
      if (!backups) return
      const msg = this.host.append(entries)
      for (const b of backups) if (!origins.includes(b)) this.host.send(b, msg)
      for (const b of backups) if (origins.includes(b)) this.host.send(b, msg)
    })
  }

  /**
   * After a view: a probe (laggards ask for what they lack) if the replica's part in it changed
   * or a backup is behind. Not when only the epoch moved and every backup has acked all: during a
   * healing every finished copy publishes a view, and each brought one append and one ack per
   * domain on every node (a burst next to 3 of a healing's 7 slowest writes in one traced run,
   * and next to 5 % of the others).
   */
  viewApplied(changed: boolean): void {
    if (changed || this.host.behind()) this.send()
  }

  /** Probes every `intervalMs` while a backup is behind. */
  armProbe(): void {
    if (this.probeTimer || !this.host.behind()) return
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = undefined
      if (!this.host.backups() || !this.host.behind()) return
      this.send()
      this.armProbe()
    }, this.intervalMs)
  }

  stop(): void {
    if (this.probeTimer) this.clock.clearTimeout(this.probeTimer)
    this.probeTimer = undefined
  }
}
