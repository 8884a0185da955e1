/**
 * What the writers were told, kept in the test process (which no fault touches), and the final
 * check of every acknowledged write against the primary and every owner's local copy.
 */
import { codesWhere } from '../../src/remote-errors.js'
import type { WriterEvent } from './writer.js'

/**
 * Answers that prove the write was not applied: the codes of the error classes whose `retry` is
 * 'safe' (not carried out) or 'never' (refused). Anything else after a write was sent (a timeout,
 * a dropped link, a fenced primary's STALE_EPOCH, an internal error) leaves its outcome unknown:
 * it may or may not be there.
 */
const DEFINITE = codesWhere((cls) => cls.retry !== 'unknown')

export const isDefinite = (code: string): boolean => DEFINITE.has(code)

export interface KeyRecord {
  key: string
  /** 'u' (update), 'p' (patch) or 's' (put): how "includes" is judged. */
  kind: 'u' | 'p' | 's'
  acked: number[]
  unknown: number[]
  rejected: Map<number, string>
  /** Writes that found the key absent (KEY_NOT_FOUND) after a write to it had been acknowledged. */
  absentAfterAck: string[]
}

export class Ledger {
  readonly keys = new Map<string, KeyRecord>()
  readonly errorCodes = new Map<string, number>()
  /** Reads made during the run that missed a write acknowledged before they were made (see FaultCluster.probeReads). */
  readonly staleReads: string[] = []

  record(e: WriterEvent): void {
    let r = this.keys.get(e.k)
    if (!r) this.keys.set(e.k, (r = { key: e.k, kind: e.k[0] as KeyRecord['kind'], acked: [], unknown: [], rejected: new Map(), absentAfterAck: [] }))
    if (e.t === 'a') return void r.acked.push(e.s)
    this.errorCodes.set(e.c, (this.errorCodes.get(e.c) ?? 0) + 1)
    if (e.c === 'KEY_NOT_FOUND' && r.acked.length > 0) r.absentAfterAck.push(`${e.o} seq ${e.s}: ${e.m}`)
    if (isDefinite(e.c)) r.rejected.set(e.s, e.c)
    else r.unknown.push(e.s)
  }

  get acked(): number {
    let n = 0
    for (const r of this.keys.values()) n += r.acked.length
    return n
  }

  get unknown(): number {
    let n = 0
    for (const r of this.keys.values()) n += r.unknown.length
    return n
  }
}

/** Whether `value` (the key's final value) includes write `seq`, as writer.ts writes them. */
export function includes(kind: KeyRecord['kind'], value: unknown, seq: number): boolean {
  const v = value as { log?: unknown; p?: Record<string, unknown>; n?: unknown } | null
  if (v === null || typeof v !== 'object') return false
  if (kind === 'u') return Array.isArray(v.log) && v.log.includes(seq)
  if (kind === 'p') return typeof v.p === 'object' && v.p !== null && v.p[String(seq)] === seq
  return typeof v.n === 'number' && v.n >= seq
}

/** Whether a definitely rejected write shows up anyway (only decidable for appended seqs). */
function phantom(kind: KeyRecord['kind'], value: unknown, seq: number): boolean {
  const v = value as { n?: unknown } | null
  return kind === 's' ? v?.n === seq : includes(kind, value, seq)
}

/** Deterministic JSON (object keys sorted), so equal values from two copies compare equal. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v) ?? 'undefined'
}

export interface LocalCopy {
  node: string
  epoch: number
  domain: number
  role: 'primary' | 'backup' | null
  held: boolean
  found: boolean
  value: unknown
  version: number
  primary: string | null
  owners: string[]
}

/** One key's final state as seen at the end: the primary read, and each owner's own copy. */
export interface KeyFinal {
  /** The store API's read through the primary; `error` if every attempt failed. */
  primary: { found: boolean; value: unknown } | { error: string }
  /** Owners according to the newest view among the peers, and what each holds. */
  owners: string[]
  copies: Map<string, LocalCopy | { error: string }>
}

/** A peer's metrics server (its JSON endpoints), given up on after `timeoutMs`. */
export async function getJson<T>(url: string, timeoutMs = 3000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** How the final state is read in a running cluster: its live peers, a primary read through one, each one's metrics URL. */
export interface FinalReader {
  vs: string
  alive: readonly string[]
  read: (via: string, key: string) => Promise<{ code?: unknown; message?: unknown; found?: unknown; value?: unknown }>
  metricsUrl: (peer: string) => string
  /** No retry of the primary read after this (Date.now()); default: none. */
  deadline?: number
}

/**
 * One key's final state: a primary read through live peer `i` (the next ones on an error, three
 * tries 500 ms apart), and every live peer's own copy; the owners as the peer with the newest
 * view sees them.
 */
export async function readFinal(key: string, i: number, r: FinalReader): Promise<KeyFinal> {
  const { alive } = r
  let primary: KeyFinal['primary'] = { error: 'no live peer to read through' }
  for (let attempt = 0; attempt < 3 && alive.length > 0 && (attempt === 0 || r.deadline === undefined || Date.now() < r.deadline); attempt++) {
    const got = await r.read(alive[(i + attempt) % alive.length]!, key)
    if (typeof got.code === 'string') {
      primary = { error: `${got.code}: ${String(got.message)}` }
      await new Promise((done) => setTimeout(done, 500))
      continue
    }
    primary = { found: got.found === true, value: got.value }
    break
  }
  const copies = new Map<string, LocalCopy | { error: string }>()
  await Promise.all(
    alive.map(async (n) => {
      try {
        copies.set(n, await getJson<LocalCopy>(`${r.metricsUrl(n)}/local?vs=${r.vs}&key=${encodeURIComponent(key)}`))
      } catch (err) {
        copies.set(n, { error: (err as Error).message })
      }
    }),
  )
  let newest: LocalCopy | undefined
  for (const c of copies.values()) if (!('error' in c) && (!newest || c.epoch > newest.epoch)) newest = c
  return { primary, owners: newest?.owners ?? [], copies }
}

export interface CheckResult {
  acked: number
  unknown: number
  rejected: number
  lost: number
  divergent: number
  absent: number
  absentDuringRun: number
  phantom: number
  readErrors: number
  /** Reads during the run that missed a write acknowledged before the read was made. */
  staleReads: number
  /** One line per finding, for the report (capped by the caller). */
  findings: string[]
}

export function check(ledger: Ledger, finals: Map<string, KeyFinal>): CheckResult {
  const res: CheckResult = { acked: ledger.acked, unknown: ledger.unknown, rejected: 0, lost: 0, divergent: 0, absent: 0, absentDuringRun: 0, phantom: 0, readErrors: 0, staleReads: ledger.staleReads.length, findings: [...ledger.staleReads] }
  for (const r of ledger.keys.values()) {
    res.rejected += r.rejected.size
    if (r.absentAfterAck.length > 0) {
      res.absentDuringRun += r.absentAfterAck.length
      res.findings.push(`${r.key}: read as absent during the run after an acknowledged write (${r.absentAfterAck.length}×), first: ${r.absentAfterAck[0]}`)
    }
    const f = finals.get(r.key)
    if (!f) continue
    if ('error' in f.primary) {
      if (r.acked.length > 0) {
        res.readErrors++
        res.findings.push(`${r.key}: primary read failed: ${f.primary.error}`)
      }
      continue
    }
    const value = f.primary.found ? f.primary.value : undefined
    if (r.acked.length > 0 && !f.primary.found) {
      res.absent++
      res.lost += r.acked.length
      res.findings.push(`${r.key}: acknowledged key read as absent (${r.acked.length} acked writes)`)
    } else {
      const missing = r.acked.filter((s) => !includes(r.kind, value, s))
      if (missing.length > 0) {
        res.lost += missing.length
        res.findings.push(`${r.key}: ${missing.length} of ${r.acked.length} acked writes missing from the primary's answer (first ${missing.slice(0, 5).join(', ')})`)
      }
    }
    for (const [s, code] of r.rejected) {
      if (value !== undefined && phantom(r.kind, value, s)) {
        res.phantom++
        res.findings.push(`${r.key}: write seq ${s} was refused with ${code} but is in the final value`)
      }
    }
    // Every owner's own copy: complete, holding the key, equal to the primary's answer.
    const want = value === undefined ? undefined : canonical(value)
    const bad: string[] = []
    for (const o of f.owners) {
      const c = f.copies.get(o)
      if (!c) bad.push(`${o}: not asked`)
      else if ('error' in c) bad.push(`${o}: ${c.error}`)
      else if (!c.held) bad.push(`${o}: no complete copy of domain ${c.domain}`)
      else if ((c.found ? canonical(c.value) : undefined) !== want) {
        const lacks = c.found ? r.acked.filter((s) => !includes(r.kind, c.value, s)).length : r.acked.length
        bad.push(`${o}: ${c.found ? 'differs' : 'absent'} (version ${c.version}, lacks ${lacks} acked writes)`)
      }
    }
    if (f.owners.length === 0) bad.push('no owners in the view')
    if (bad.length > 0 && r.acked.length > 0) {
      res.divergent++
      res.findings.push(`${r.key}: replicas differ from the primary: ${bad.join('; ')}`)
    }
  }
  return res
}
