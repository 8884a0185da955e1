/** What a domain replica reports and is configured with (shared by the state manager and healing). */
import type { NodeId } from '../ids.js'
import type { Clock } from '../util/clock.js'
import type { LogEntry } from './log.js'
import type { OutgoingReplMessage } from './messages.js'

export interface WriteResult {
  /** The write's place in its domain's order; also the new version of what it wrote. */
  seq: number
  /** Copies holding the write when it was acknowledged (primary included). */
  replicas: number
}

export interface ReplicaHooks {
  send(to: NodeId, msg: OutgoingReplMessage): void
  committed(domain: number, entries: readonly LogEntry[]): void
  /** This copy applied an entry, as primary or backup, before it is known to be committed. */
  applied(domain: number, entry: LogEntry): void
  snapshotSent(domain: number, to: NodeId): void
  snapshotInstalled(domain: number, from: NodeId): void
  failed(domain: number, error: unknown): void
  /** This primary committed writes that `node`, an owner that is down, does not have. */
  lagging(domain: number, node: NodeId): void
  /** Healing holds writes to this domain back (only while it ships the last delta). */
  locked(domain: number, locked: boolean): void
  /**
   * Asks owner `to` whether it knows of a primary newer than `epoch` other than this node:
   * resolves with that (epoch, primary), or undefined if it knows of none.
   */
  lead(to: NodeId, domain: number, epoch: number, timeoutMs: number): Promise<{ epoch: number; primary: NodeId | undefined } | undefined>
}

export interface ReplicaConfig {
  clock: Clock
  hooks: ReplicaHooks
  /** 'all' live backups, or a number of them. */
  writeAcks: 'all' | number
  writeTimeoutMs: number
  resendAfterMs: number
  /** Log entries kept in memory after a compaction, for delta catch-up. */
  retainEntries: number
  /** What a cooled (quiet) domain keeps of them. */
  restEntries: number
}

export interface CopyReport {
  bytes: number
  /** How long writes to this domain were held back. */
  lockMs: number
  /** What the bulk sent: the entries the target missed, nothing (it had them all), or a snapshot. */
  as: 'entries' | 'nothing' | 'snapshot'
  /** The whole copy, from asking the target's position to its last ack (ms). */
  tookMs: number
  /** Of that, waiting for the target to say where its log ends. */
  positionMs: number
  /** Of that, waiting with every piece out and no ack (a link still opening, a lost piece). */
  waitedMs: number
  /** Times the pieces were all sent again for want of an ack within a resend interval. */
  resends: number
}
