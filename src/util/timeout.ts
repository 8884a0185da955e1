/** Bounds a wait on the injected clock: the promise's outcome, or a TimeoutError after `ms`. */
import { TimeoutError } from '../errors.js'
import type { Clock } from './clock.js'

export function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TimeoutError(what, ms)), ms)
    p.then(
      (v) => (clock.clearTimeout(timer), resolve(v)),
      (e: unknown) => (clock.clearTimeout(timer), reject(e)),
    )
  })
}
