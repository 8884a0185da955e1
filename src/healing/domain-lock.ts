/**
 * Holds a domain's new writes back while healing ships its last delta (healing-copy.ts): the
 * copy locks, the delta goes out and is acked, the copy unlocks. Writes that came meanwhile wait
 * for the unlock (a replica bounds that wait by its write timeout).
 */
export class DomainLock {
  private held: Promise<void> | undefined

  /** `locked(true)` when taken, `locked(false)` when let go (the state manager's `lock` event). */
  constructor(private readonly locked: (locked: boolean) => void) {}

  /** The lock's release, while it is held. */
  get waiting(): Promise<void> | undefined {
    return this.held
  }

  /** Takes the lock; the returned function lets it go. */
  take(): () => void {
    let release!: () => void
    this.held = new Promise((r) => (release = r))
    this.locked(true)
    return () => {
      this.held = undefined
      release()
      this.locked(false)
    }
  }
}
