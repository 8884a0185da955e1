/** The embedded default TopologyStateStore: one JSON file next to the service (Node only). */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseTopologyState, TopologyStateError, type TopologyState, type TopologyStateStore } from './topology-state.js'

/** One JSON file: written to a temporary file, fsynced, renamed over the old one, folder fsynced. */
export class FileTopologyStateStore implements TopologyStateStore {
  constructor(readonly path: string) {}

  async load(): Promise<TopologyState | undefined> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new TopologyStateError(this.path, (err as Error).message)
    }
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch (err) {
      throw new TopologyStateError(this.path, `damaged (${(err as Error).message}); move it away to rebuild the state from what the nodes report`)
    }
    return parseTopologyState(raw, this.path)
  }

  async save(state: TopologyState): Promise<void> {
    const dir = dirname(this.path)
    await mkdir(dir, { recursive: true })
    const tmp = `${this.path}.tmp-${randomBytes(6).toString('hex')}`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(JSON.stringify(state))
      await fh.sync()
    } catch (err) {
      await fh.close()
      await rm(tmp, { force: true })
      throw err
    }
    await fh.close()
    await rename(tmp, this.path)
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  }
}
