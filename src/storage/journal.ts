/**
 * The write-ahead journal of FileStorage: one append-only file. A commit appends one record and
 * calls fdatasync once, however many batches (from however many domains) it carries; that single
 * sync is what makes a write durable. Records are `[length u32][crc32 u32][payload]`, so a record
 * torn by a crash is recognised and cut off when the journal is read back.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { crc32 } from './checksum.js'

const HEADER = 8

export class Journal {
  private size: number

  private constructor(
    private readonly fh: FileHandle,
    size: number,
  ) {
    this.size = size
  }

  /** Opens (or creates) the journal and returns the intact records in it, oldest first. */
  static async open(path: string): Promise<{ journal: Journal; records: Uint8Array[] }> {
    const fh = await open(path, 'a+')
    const bytes = new Uint8Array(await fh.readFile())
    const records: Uint8Array[] = []
    let at = 0
    while (at + HEADER <= bytes.length) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER)
      const len = view.getUint32(0)
      const sum = view.getUint32(4)
      if (at + HEADER + len > bytes.length) break // torn: the crash came mid-append
      const payload = bytes.subarray(at + HEADER, at + HEADER + len)
      if (crc32(payload) !== sum) break // garbled: nothing after it can be trusted
      records.push(payload)
      at += HEADER + len
    }
    if (at < bytes.length) {
      await fh.truncate(at)
      await fh.datasync()
    }
    return { journal: new Journal(fh, at), records }
  }

  get bytes(): number {
    return this.size
  }

  /** Appends one record and makes it durable. */
  async append(payload: Uint8Array): Promise<void> {
    await this.write(payload)
    await this.sync()
  }

  /**
   * Appends one record, not yet durable: `sync` makes it so, with every record written before.
   * Once this resolves the record is whole in the file, so a record written after it starts after
   * its end (FileStorage lets a small commit do so while a large one syncs).
   */
  async write(payload: Uint8Array): Promise<void> {
    const header = new Uint8Array(HEADER)
    const view = new DataView(header.buffer)
    view.setUint32(0, payload.length)
    view.setUint32(4, crc32(payload))
    // Header and payload in one write without joining them: a commit carrying a domain's
    // snapshot made another copy of it here.
    await writeAll(this.fh, [header, payload])
    this.size += HEADER + payload.length
  }

  /** Makes every record written so far durable. */
  async sync(): Promise<void> {
    await this.fh.datasync()
  }

  /** Empties the journal once everything in it is durable elsewhere. */
  async reset(): Promise<void> {
    await this.fh.truncate(0)
    await this.fh.datasync()
    this.size = 0
  }

  async close(): Promise<void> {
    await this.fh.close()
  }
}

/** writev until every byte is written (a short write is allowed by POSIX and resumed). */
async function writeAll(fh: FileHandle, parts: Uint8Array[]): Promise<void> {
  let rest = parts.filter((p) => p.byteLength > 0)
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest)
    if (bytesWritten === 0) throw new Error('the journal accepts no more bytes (writev wrote nothing)')
    while (rest.length > 0 && bytesWritten >= rest[0]!.byteLength) bytesWritten -= rest.shift()!.byteLength
    if (rest.length > 0 && bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten)
  }
}
