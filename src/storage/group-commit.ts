/**
 * FileStorage's group commit: every batch waiting when a commit starts goes into one journal
 * record and one fdatasync, which is what makes it durable, and each batch is answered right then
 * (its ops made visible first, by the host's `stage`). All 64 domains of a node share that one sync
 * per commit.
 *
 * A large record (a copied snapshot's ~180 KB) syncs while later commits go on: once written it is
 * whole in the journal, so later records start after its end, and a sync flushes every record
 * before it as well. A write to another domain used to wait 2-8 ms behind such a record. Commits
 * that touch one of its keys, or remove a range, wait for it, so a key's commits stay in order;
 * the host's `afterCommit` (early writes, the rotation) never runs while it syncs.
 */
import { StorageError } from '../errors.js'
import { encodeValue } from '../wire/codec.js'
import type { Journal } from './journal.js'
import type { JournalOp } from './key-files.js'

/** A journal record this large syncs while later commits go on. */
const BACKGROUND_SYNC_BYTES = 64 * 1024

interface Waiting {
  ops: JournalOp[]
  done: (err?: unknown) => void
}

export interface GroupCommitHost {
  /** The journal commits go to now (a rotation swaps it, only while nothing commits). */
  journal(): Journal
  /** The file path a key is kept under: commits to one path stay in order. */
  pathOf(key: string[]): string
  /** Makes committed ops visible (reads see them). */
  stage(ops: readonly JournalOp[]): Promise<void>
  /** Runs between commits while no record syncs: early writes, the rotation. */
  afterCommit(): Promise<void>
  /** For error messages: where the journal lives. */
  readonly root: string
}

export class GroupCommit {
  private waiting: Waiting[] = []
  private committing: Promise<void> | undefined
  /** A large record syncing while later commits go on, the paths it touches, and its end. */
  private syncing: { paths: ReadonlySet<string>; done: Promise<void> } | undefined
  /** `afterCommit` was put off by a record syncing: the loop runs again once it is done. */
  private afterDue = false

  constructor(private readonly host: GroupCommitHost) {}

  /** Queues ops for the next commit; resolves once they are durable and visible. */
  commit(ops: JournalOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ ops, done: (err) => (err ? reject(err) : resolve()) })
      this.run()
    })
  }

  /** Resolves once nothing is being committed or synced. */
  async idle(): Promise<void> {
    while (this.committing || this.syncing) await (this.committing ?? this.syncing?.done)
  }

  /** Starts the loop unless it runs; ops queued while it was ending start it again. */
  private run(): void {
    if (this.committing) return
    this.committing = this.loop().finally(() => {
      this.committing = undefined
      if (this.waiting.length > 0 || (this.afterDue && !this.syncing)) this.run()
    })
  }

  private async loop(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting
      this.waiting = []
      if (this.syncing && !this.apart(group, this.syncing.paths)) await this.syncing.done
      const record = encodeValue(group.flatMap((w) => w.ops))
      try {
        await this.host.journal().write(record)
      } catch (err) {
        this.fail(group, err)
        continue
      }
      const synced = this.syncAndAnswer(group)
      if (record.byteLength >= BACKGROUND_SYNC_BYTES && !this.syncing && this.apart(group, new Set())) {
        const paths = new Set(group.flatMap((w) => w.ops.map((op) => this.host.pathOf(op[1]))))
        this.syncing = {
          paths,
          done: synced.finally(() => {
            this.syncing = undefined
            this.run() // the early writes and the rotation it put off
          }),
        }
        continue
      }
      await synced
      await this.afterCommit()
    }
    await this.afterCommit()
  }

  private async afterCommit(): Promise<void> {
    this.afterDue = this.syncing !== undefined
    if (!this.afterDue) await this.host.afterCommit()
  }

  /** Whether no op of `group` removes a range or touches one of `paths`. */
  private apart(group: readonly Waiting[], paths: ReadonlySet<string>): boolean {
    return group.every((w) => w.ops.every((op) => op[0] !== 'r' && !paths.has(this.host.pathOf(op[1]))))
  }

  /** Syncs the journal, then makes the group's ops visible and answers each batch (never rejects). */
  private async syncAndAnswer(group: readonly Waiting[]): Promise<void> {
    try {
      await this.host.journal().sync()
    } catch (err) {
      this.fail(group, err)
      return
    }
    // Puts and deletes reach their files at the next checkpoint (most log segments are compacted
    // away before then and never touch the disk on their own); removing a range first writes
    // what is pending, so the files are in order before it goes.
    for (const w of group) {
      try {
        await this.host.stage(w.ops)
        w.done()
      } catch (err) {
        w.done(new StorageError(`cannot write files in ${this.host.root}: ${(err as Error).message}`))
      }
    }
  }

  private fail(group: readonly Waiting[], err: unknown): void {
    const failure = new StorageError(`cannot write the journal in ${this.host.root}: ${(err as Error).message}`)
    for (const w of group) w.done(failure)
  }
}
