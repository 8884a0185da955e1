/**
 * Node storage in plain files, one file per key: ['a','b'] lives in `<root>/a/b.v` (key-files.ts).
 *
 * Durability comes from a write-ahead journal (`journal.ts`) and its group commit
 * (`group-commit.ts`): every batch waiting when a commit starts goes into one journal record and
 * one fdatasync, which is what makes it durable, and the batch is answered right then. All 64
 * domains of a node share that one sync per commit, instead of two fsyncs and a handful of file
 * operations per domain per commit. Reads of keys written
 * since the last checkpoint are answered from memory. Once the journal passes `checkpointBytes`,
 * a new journal takes the commits that follow while the keys the old one covers are written to
 * their files (temporary file, then rename, so a reader never sees a torn file) and fsynced; then
 * the old journal is removed (see `rotate`); small values are carried into the new journal
 * instead. Writing files only then also skips most log segments entirely: compaction deletes them
 * before they would reach the disk. Opening replays what the journals hold, so a kill -9 at any
 * point leaves either the old or the new value of every key. Leftover temporary files are removed.
 * Segments are percent-encoded (everything but [A-Za-z0-9_-]), so no segment can contain '/', '.'
 * or '..', `x.v` (the value of ['x']) can never clash with `x/` (the keys under ['x']), and no key
 * can name the journal file.
 */
import { mkdir, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ClosedError, StorageError } from '../errors.js'
import { decodeValue, encodeValue } from '../wire/codec.js'
import { exists, fsyncPath, inChunks, isNotFound, removeTempFiles, startsWith } from './file-ops.js'
import { GroupCommit } from './group-commit.js'
import { Journal } from './journal.js'
import { KeyFiles, type JournalOp } from './key-files.js'
import { checkKey, checkOps, checkValue, compareKeys, type Storage, type StorageEntry, type StorageKey, type StorageOp } from './storage.js'

const JOURNAL = 'journal.log'
/** The journal a checkpoint in progress is retiring: replayed before JOURNAL, removed when done. */
const OLD_JOURNAL = 'journal.old.log'

/** A committed put (a value) or delete (undefined) whose file is not written yet. */
interface PendingValue {
  key: string[]
  value: Uint8Array | undefined
}

/** Values up to this size may be carried into the next journal at a rotation (see splitPending). */
const CARRY_MAX_VALUE = 16 * 1024


export interface FileStorageOptions {
  /** Journal size at which the files are fsynced and the journal emptied (default 16 MiB). */
  checkpointBytes?: number
}

export class FileStorage implements Storage {
  /** Files outlive the process: a node on them is a durable member. */
  readonly durable = true
  private closed = false
  private readonly commits: GroupCommit
  /** Committed puts (a value) and deletes (undefined) whose files are not written yet, by path. */
  private readonly pending = new Map<string, PendingValue>()
  private writingBehind: Promise<void> | undefined
  private writeBehindError: unknown
  /**
   * Large values committed but not in their files yet, written there right away rather than at
   * the checkpoint (see `writeEarly`), and the run writing them.
   */
  private readonly early = new Set<string>()
  private writingEarly: Promise<void> | undefined
  /** A checkpoint running beside commits (journal rotation), and the files it is writing. */
  private rotating: Promise<void> | undefined
  private rotatingPaths: ReadonlySet<string> | undefined
  private halted = false

  private constructor(
    readonly root: string,
    private journal: Journal,
    private readonly files: KeyFiles,
    private readonly checkpointBytes: number,
  ) {
    this.commits = new GroupCommit({
      journal: () => this.journal,
      pathOf: (key) => this.files.pathOf(key),
      stage: (ops) => this.stage(ops),
      afterCommit: () => this.afterCommit(),
      root,
    })
  }

  static async open(root: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    await mkdir(root, { recursive: true })
    await removeTempFiles(root)
    // A crash during a rotation leaves the retired journal behind: its records are older.
    const old = (await exists(join(root, OLD_JOURNAL))) ? await Journal.open(join(root, OLD_JOURNAL)) : undefined
    await old?.journal.close()
    const { journal, records: newer } = await Journal.open(join(root, JOURNAL))
    const records = [...(old?.records ?? []), ...newer]
    const st = new FileStorage(root, journal, await KeyFiles.open(root, [JOURNAL, OLD_JOURNAL]), opts.checkpointBytes ?? 16 << 20)
    // Whatever the journal holds may not have reached the files before a crash: fold it into
    // `pending` (the last write of each key wins) and write that out, rather than replaying
    // every segment a compaction deleted later anyway.
    for (const rec of records) await st.stage(decodeValue(rec) as JournalOp[])
    if (records.length > 0) await st.checkpoint()
    return st
  }

  async get(key: StorageKey): Promise<Uint8Array | undefined> {
    this.check()
    checkKey(key)
    const p = this.pending.get(this.files.pathOf(key))
    if (p) return p.value?.slice() // a copy: the caller may change what it gets
    return this.files.read(key)
  }

  async put(key: StorageKey, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }])
  }

  async delete(key: StorageKey): Promise<void> {
    await this.batch([{ type: 'delete', key }])
  }

  async list(prefix: StorageKey): Promise<StorageEntry[]> {
    this.check()
    checkKey(prefix, true)
    // Taken first: a pending key may reach its file (and leave `pending`) while the folders are read.
    const pending = [...this.pending]
    const keys = await this.files.keys(prefix)
    const seen = new Set(keys.map((k) => this.files.pathOf(k)))
    for (const [path, p] of pending) if (!seen.has(path) && p.value && startsWith(p.key, prefix)) keys.push(p.key)
    keys.sort(compareKeys)
    const out: StorageEntry[] = []
    for (const key of keys) {
      const value = await this.get(key)
      if (value) out.push({ key, value }) // a concurrent delete may have removed it meanwhile
    }
    return out
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.check()
    checkKey(prefix, true)
    await this.commit([['r', [...prefix]]])
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.check()
    checkOps(ops)
    if (ops.length === 0) return
    await this.commit(ops.map((op): JournalOp => (op.type === 'put' ? ['p', [...op.key], op.value.slice()] : ['d', [...op.key]])))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.commits.idle()
    while (this.rotating) await this.rotating
    try {
      await this.checkpoint() // a clean shutdown leaves every key in its file and the journal empty
    } finally {
      await this.journal.close()
    }
  }

  /** Queues ops for the next commit; resolves once they are durable and visible. */
  private commit(ops: JournalOp[]): Promise<void> {
    return this.commits.commit(ops)
  }

  /** Early writes, and a rotation once the journal is full (group-commit.ts: never while a record syncs). */
  private async afterCommit(): Promise<void> {
    this.writeEarly()
    if (this.journal.bytes >= this.checkpointBytes && !this.rotating) {
      // One writer per file at a time: a rotation writes what the early run has not.
      while (this.writingEarly) await this.writingEarly
      await this.rotate()
    }
  }

  /**
   * A checkpoint that does not stop commits: the full journal is retired (renamed) and a new one
   * takes the commits that follow, while the keys the old one covers are written to their files
   * and fsynced; then the old journal is removed. Writing thousands of files used to hold every
   * commit for up to a second. A crash midway leaves both journals, and opening replays both.
   * Called between two commits: the switch is awaited (no append may be in flight on the journal
   * it retires, and every op in it must be in the batch written out); the writing is not.
   */
  private async rotate(): Promise<void> {
    const oldPath = join(this.root, OLD_JOURNAL)
    const { carried, batch } = this.splitPending()
    try {
      // Left over from a rotation that failed: its keys are still pending, so this run covers them.
      if (await exists(oldPath)) batch.push(...carried.map(([path, p]) => [path, p] as const))
      else await this.switchJournal(oldPath, carried.map(([, p]): JournalOp => ['p', p.key, p.value!]))
    } catch (err) {
      this.writeBehindError = err
      return
    }
    this.rotatingPaths = new Set(batch.map(([path]) => path))
    this.rotating = (async () => {
      await inChunks(batch, 16, async ([, p]) => {
        if (this.halted) throw new ClosedError('file storage')
        await this.files.apply(p.value ? ['p', p.key, p.value] : ['d', p.key])
      })
      await this.files.sync()
      // Only what is unchanged since leaves the overlay: a newer write stays until the next checkpoint.
      for (const [path, p] of batch) if (this.pending.get(path) === p) this.pending.delete(path)
      if (this.halted) throw new ClosedError('file storage')
      await unlink(oldPath)
    })()
      .catch((err: unknown) => {
        if (!this.halted) this.writeBehindError = err // reported by the next checkpoint or close
      })
      .finally(() => {
        this.rotating = undefined
        this.rotatingPaths = undefined
        this.writeEarly() // values committed while the rotation ran
      })
  }

  /**
   * Small values go on in the new journal instead of into files of their own: a file costs seven
   * file-system calls (write, rename, fsync, ...) and these are mostly log segments that the next
   * compaction deletes. Measured: a rotation wrote ~1,100 files (1,000 of them segments) in 3-4 s
   * and doubled the CPU per change meanwhile. Their total is capped, so a journal always shrinks.
   */
  private splitPending(): { carried: [string, PendingValue][]; batch: (readonly [string, PendingValue])[] } {
    const carried: [string, PendingValue][] = []
    const batch: (readonly [string, PendingValue])[] = []
    let bytes = 0
    for (const [path, p] of this.pending) {
      const size = p.value?.byteLength ?? Infinity
      if (size <= CARRY_MAX_VALUE && bytes + size <= this.checkpointBytes / 8) {
        carried.push([path, p])
        bytes += size
      } else batch.push([path, p])
    }
    return { carried, batch }
  }

  private async switchJournal(oldPath: string, carried: JournalOp[]): Promise<void> {
    const path = join(this.root, JOURNAL)
    await rename(path, oldPath)
    let fresh: Journal
    try {
      fresh = (await Journal.open(path)).journal
      // First in the new journal, before any newer commit: replay must not put an older value last.
      if (carried.length > 0) await fresh.append(encodeValue(carried))
      await fsyncPath(this.root) // the new journal's name must be durable before a commit relies on it
    } catch (err) {
      await rename(oldPath, path) // carry on with the old one
      throw err
    }
    const retired = this.journal
    this.journal = fresh
    await retired.close()
  }

  /**
   * Stops all work as a crash would (tests): nothing more reaches the disk. Resolves once the
   * file operation in flight, if any, has ended. The journal's descriptor is closed as a dying
   * process's would be: without a sync, and nothing is buffered above the kernel. Left open,
   * each was closed by the garbage collector, which Node warns of and means to make an error.
   */
  async halt(): Promise<void> {
    this.halted = true
    this.closed = true
    while (this.writingEarly) await this.writingEarly
    while (this.rotating) await this.rotating
    await this.commits.idle()
    await this.journal.close()
  }

  /** Makes committed ops visible: puts and deletes in `pending`, a range removal on disk at once. */
  private async stage(ops: readonly JournalOp[]): Promise<void> {
    for (const op of ops) {
      if (op[0] === 'r') {
        // Files a rotation is still writing could land after the removal.
        while (this.rotating) await this.rotating
        await this.drain()
        await this.files.apply(op)
      } else {
        const path = this.files.pathOf(op[1])
        // A key written and deleted between two checkpoints never touches the disk (unless a
        // rotation or the early run is writing it right now: then the delete must follow it there).
        if (op[0] === 'd' && !this.files.has(path) && !this.rotatingPaths?.has(path) && !this.early.has(path)) this.pending.delete(path)
        else this.pending.set(path, { key: op[1], value: op[0] === 'p' ? op[2] : undefined })
        if (op[0] === 'p' && op[2].byteLength > CARRY_MAX_VALUE) this.early.add(path)
      }
    }
  }

  private writeBehind(): void {
    if (this.writingBehind || this.pending.size === 0) return
    this.writingBehind = (async () => {
      try {
        while (this.pending.size > 0) {
          // Sixteen at a time: the file system calls run on libuv's thread pool.
          await inChunks([...this.pending], 16, async ([path, p]) => void (await this.writeOut(path, p)))
        }
      } catch (err) {
        // Kept in memory and in the journal; reported by the next checkpoint or close.
        this.writeBehindError = err
      }
    })().finally(() => (this.writingBehind = undefined))
  }

  /** Writes one pending put or delete to its file; it leaves the overlay unless a newer one came meanwhile. */
  private async writeOut(path: string, p: PendingValue): Promise<boolean> {
    await this.files.apply(p.value ? ['p', p.key, p.value] : ['d', p.key])
    if (this.pending.get(path) !== p) return false
    this.pending.delete(path)
    return true
  }

  /**
   * Writes the large values committed since the last call to their files now, and lets go of
   * them: the overlay would otherwise hold every value up to the checkpoint (up to the journal's
   * 16 MiB; in the benchmark, the domains' snapshots made 4 of a peer's 15 MB of buffers). A
   * rotation would not carry them into the next journal either (`splitPending`), so each is
   * written once all the same, unless a newer value replaces it first. The journal still holds
   * them until the checkpoint fsyncs the files, so a crash loses nothing. Not while a rotation or
   * a full write-behind runs: each file has one writer at a time.
   */
  private writeEarly(): void {
    if (this.writingEarly || this.rotating || this.writingBehind || this.halted || this.early.size === 0) return
    this.writingEarly = (async () => {
      try {
        while (this.early.size > 0 && !this.halted) {
          for (const path of [...this.early]) {
            const p = this.pending.get(path)
            if (!p?.value || p.value.byteLength <= CARRY_MAX_VALUE) {
              this.early.delete(path) // deleted, or replaced by a small value: the checkpoint's
              continue
            }
            if (this.halted) return
            // A newer value committed meanwhile stays, and is written on the next pass.
            if (await this.writeOut(path, p)) this.early.delete(path)
          }
        }
      } catch (err) {
        // Kept in memory and in the journal; reported by the next checkpoint or close.
        this.writeBehindError = err
        this.early.clear()
      }
    })().finally(() => (this.writingEarly = undefined))
  }

  /** Resolves once every committed put and delete is in its file. */
  private async drain(): Promise<void> {
    while (this.writingEarly) await this.writingEarly
    this.writeBehind()
    while (this.writingBehind) await this.writingBehind
    if (this.writeBehindError) {
      const err = this.writeBehindError
      this.writeBehindError = undefined
      throw new StorageError(`cannot write files in ${this.root}: ${(err as Error).message}`)
    }
  }

  /** Makes every file written since the last checkpoint durable on its own, then empties the journal. */
  private async checkpoint(): Promise<void> {
    await this.drain()
    await this.files.sync()
    await this.journal.reset()
    await unlink(join(this.root, OLD_JOURNAL)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err
    })
  }

  private check(): void {
    if (this.closed) throw new ClosedError('file storage')
  }
}

export { decodeSegment, encodeSegment } from './file-ops.js'
