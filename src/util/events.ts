/**
 * A typed event emitter: each event has one payload object. A listener that throws does not stop
 * the others; its error goes to the `onListenerError` hook (by default rethrown asynchronously so
 * it is seen, never swallowed).
 */
export type Listener<T> = (payload: T) => void

export class Emitter<Events extends { [K in keyof Events]: object }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()
  constructor(private readonly onListenerError: (err: unknown) => void = rethrowLater) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    set.add(listener as Listener<never>)
    return () => this.off(event, listener)
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>)
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const l of [...set]) {
      try {
        ;(l as Listener<Events[K]>)(payload)
      } catch (err) {
        this.onListenerError(err)
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0
  }

  removeAll(): void {
    this.listeners.clear()
  }
}

function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err
  })
}
