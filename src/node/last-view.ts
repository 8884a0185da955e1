/**
 * The last view a node saw, kept with its data. A topology service that lost its own state
 * rebuilds it from these (the newest one any node reports), so epochs never go back and owners
 * are never guessed even then. Saved after each view, at most one write at a time: a view that
 * arrives while one is being written replaces whatever waits.
 */
import * as v from '../util/schema.js'
import type { Storage } from '../storage/storage.js'
import { asView, ViewSchema } from '../topology/protocol.js'
import type { View } from '../topology/view.js'

const KEY = ['meta', 'view'] as const

export class LastView {
  view: View | undefined
  private next: View | undefined
  private writing = false

  constructor(
    private readonly storage: Storage,
    private readonly failed: (error: unknown) => void,
  ) {}

  /** Reads the kept view; one that cannot be read is ignored (it is only a hint for a service that lost its state). */
  async load(): Promise<void> {
    const bytes = await this.storage.get(KEY)
    if (!bytes) return
    try {
      const parsed = v.safeParse(ViewSchema, JSON.parse(new TextDecoder().decode(bytes)))
      if (parsed.success) this.view = asView(parsed.output)
    } catch (error) {
      // Not JSON: reported, and treated as no view kept (the next view overwrites it).
      this.failed(error)
    }
  }

  save(view: View): void {
    if (this.view && view.epoch <= this.view.epoch) return
    this.view = view
    this.next = view
    if (!this.writing) void this.flush()
  }

  private async flush(): Promise<void> {
    this.writing = true
    try {
      while (this.next) {
        const view = this.next
        this.next = undefined
        await this.storage.put(KEY, new TextEncoder().encode(JSON.stringify(view)))
      }
    } catch (error) {
      this.failed(error)
    } finally {
      this.writing = false
    }
  }
}
