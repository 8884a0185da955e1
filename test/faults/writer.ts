/**
 * One writer of the fault test. It owns its keys and only appends, so the final value of a key
 * must include every write acknowledged on it:
 *   u-W-j  `store.update`: pushes the write's seq onto `log`        → log includes every acked seq
 *   p-W-j  `store.patch`: adds field `p[seq] = seq`                   → p has every acked seq
 *   s-W    `store.put`:   `{ n: seq }`, seqs only grow per writer     → n ≥ the greatest acked seq
 * A key the primary says is absent is created with a create-only put holding the write's own seq,
 * so that create is an ordinary write the check looks for too.
 */
import type { DomainMeshError } from '../../src/errors.js'
import type { Store } from '../../src/store/store.js'

export type Op = 'update' | 'patch' | 'put' | 'create'

export type WriterEvent =
  | { t: 'a'; w: string; k: string; s: number; o: Op }
  | { t: 'e'; w: string; k: string; s: number; o: Op; c: string; m: string }

export const writerKeys = (w: string, keys: number): string[] => [
  ...Array.from({ length: keys }, (_, j) => `u-${w}-${j}`),
  ...Array.from({ length: keys }, (_, j) => `p-${w}-${j}`),
  `s-${w}`,
]

/** After a failure, before the next write: a view may be settling; no point spinning on it. */
const ERROR_PAUSE_MS = 30

export async function runWriter(store: Store, w: string, base: number, keys: number, stopped: () => boolean, emit: (e: WriterEvent) => void): Promise<void> {
  const ks = writerKeys(w, keys)
  let seq = base
  for (let i = 0; !stopped(); i++) {
    const k = ks[i % ks.length]!
    const s = ++seq
    const kind = k[0]
    const o: Op = kind === 'u' ? 'update' : kind === 'p' ? 'patch' : 'put'
    try {
      if (o === 'update') await store.update<{ log: number[] }>(k, (d) => void d.log.push(s))
      else if (o === 'patch') await store.patch(k, [{ op: 'add', path: ['p', String(s)], value: s }])
      else await store.put(k, { n: s })
      emit({ t: 'a', w, k, s, o })
    } catch (err) {
      const code = (err as DomainMeshError).code ?? 'INTERNAL'
      emit({ t: 'e', w, k, s, o, c: code, m: String((err as Error).message).slice(0, 300) })
      if (code === 'KEY_NOT_FOUND') await create(store, w, k, ++seq, emit)
      else await new Promise((r) => setTimeout(r, ERROR_PAUSE_MS))
    }
  }
}

async function create(store: Store, w: string, k: string, s: number, emit: (e: WriterEvent) => void): Promise<void> {
  const value = k[0] === 'u' ? { log: [s] } : { p: { [String(s)]: s } }
  try {
    await store.put(k, value, { ifVersion: 0 })
    emit({ t: 'a', w, k, s, o: 'create' })
  } catch (err) {
    emit({ t: 'e', w, k, s, o: 'create', c: (err as DomainMeshError).code ?? 'INTERNAL', m: String((err as Error).message).slice(0, 300) })
    await new Promise((r) => setTimeout(r, ERROR_PAUSE_MS))
  }
}
