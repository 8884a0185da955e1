/** The one options schema of the store tuning: its checks, its defaults and the docs table written from it. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { InvalidSettingsError, MeshNode, type StoreTuning } from '../../src/index.js'
import { DEFAULT_LIMITS } from '../../src/objects/guard.js'
import { TUNING_DEFAULTS, TUNING_OPTIONS, TUNING_SCHEMA } from '../../src/replication/tuning.js'
import { TUNING_DOCS } from '../../src/replication/tuning-docs.js'
import { MemoryStorage } from '../../src/storage/memory.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { DOC, withTable } from '../../scripts/options-table.js'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
// The schema lists every option of StoreTuning, and no other (a type error otherwise).
const listed: Same<keyof StoreTuning, keyof typeof TUNING_SCHEMA> = true

const tuned = (store: object) => () => new MeshNode({ clusterId: 'x' as never, transport: new MemoryNetwork().createTransport(), storage: new MemoryStorage(), store })

describe('store options', () => {
  it('checks the options that used to pass unchecked, naming the option and what it must be', () => {
    expect(listed).toBe(true)
    expect(tuned({ writeAcks: 'most' })).toThrow(/store.writeAcks must be 'all' or a whole number of 0 or more, not most/)
    expect(tuned({ writeAcks: -1 })).toThrow(InvalidSettingsError)
    expect(tuned({ writeTimeoutMs: 0 })).toThrow(/store.writeTimeoutMs must be a whole number of ms, 1 or more, not 0/)
    expect(tuned({ resendAfterMs: Number.NaN })).toThrow(/store.resendAfterMs must be a whole number of ms, 1 or more, not NaN/)
    expect(tuned({ compactBytes: -1 })).toThrow(/store.compactBytes must be a whole number of bytes, 1 or more, not -1/)
    expect(tuned({ limits: { maxOps: 0 } })).toThrow(/store.limits.maxOps must be a whole number of 1 or more, not 0/)
    expect(tuned({ writeAcks: 'all', writeTimeoutMs: 500, resendAfterMs: 50, compactBytes: 2000, limits: { maxValueBytes: 2048, maxDepth: 16 } })).not.toThrow()
    expect(tuned({ writeAcks: 1 })).not.toThrow()
  })

  it('keeps the defaults the code ran with, the input limits included', () => {
    expect(TUNING_DEFAULTS).toEqual({ writeAcks: 'all', writeTimeoutMs: 10_000, resendAfterMs: 200, compactBytes: 1024 * 1024, retainEntries: 128, restEntries: 32, healPauseRatio: 1, healPieceGapMs: 5, healQuietMs: 3, coolAfterMs: 10_000 })
    const limits = Object.fromEntries(TUNING_OPTIONS.filter((o) => o.name.startsWith('limits.')).map((o) => [o.name.slice('limits.'.length), o.default]))
    expect(limits).toEqual(DEFAULT_LIMITS)
    for (const o of TUNING_OPTIONS) expect(TUNING_DOCS[o.name].doc.length, o.name).toBeGreaterThan(10)
    expect(Object.keys(TUNING_DOCS).sort()).toEqual(TUNING_OPTIONS.map((o) => o.name).sort())
  })

  it('the table in docs/api.md is the one the schema writes (npm run docs:options)', () => {
    const text = readFileSync(DOC, 'utf8')
    expect(withTable(text)).toBe(text)
  })
})
