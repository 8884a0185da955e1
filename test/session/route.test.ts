import { describe, expect, it } from 'vitest'
import { nodeId, type NodeId } from '../../src/ids.js'
import { compareAuthority, route } from '../../src/session/route.js'
import type { ClientEntry } from '../../src/session/table.js'
import type { FailoverToken } from '../../src/session/token.js'

const [a, b, c] = [nodeId('a'), nodeId('b'), nodeId('c')]
const token = (primary: NodeId, backups: NodeId[], epoch: number): FailoverToken => ({ clientId: 'k', vs: 'v', primary, backups, epoch, sig: 'x' })
const entry = (role: 'primary' | 'backup', primary: NodeId, backups: NodeId[], epoch: number): ClientEntry => ({ clientId: 'k', vs: 'v', role, primary, backups, epoch, sessions: new Set() })
const base = { mayForward: true, isCreate: false }

describe('session routing', () => {
  it('orders authority by epoch, then by primary id, so equal epochs still have a winner', () => {
    expect(compareAuthority({ epoch: 3, primary: a }, { epoch: 2, primary: c })).toBeGreaterThan(0)
    expect(compareAuthority({ epoch: 2, primary: b }, { epoch: 2, primary: a })).toBeGreaterThan(0)
    expect(compareAuthority({ epoch: 2, primary: a }, { epoch: 2, primary: a })).toBe(0)
  })

  it('a primary serves a token of its epoch or older, and not a newer one', () => {
    const e = entry('primary', a, [b], 4)
    expect(route({ ...base, self: a, entry: e, token: token(a, [b], 4), live: new Set([b]) })).toEqual({ kind: 'serve' })
    expect(route({ ...base, self: a, entry: e, token: token(c, [b], 5), live: new Set([b, c]) })).toEqual({ kind: 'forward', to: c })
  })

  it('a backup that knows a newer primary than the token routes by its own knowledge', () => {
    const e = entry('backup', c, [b], 6)
    expect(route({ ...base, self: b, entry: e, token: token(a, [b], 4), live: new Set([a, c]) })).toEqual({ kind: 'forward', to: c })
    expect(route({ ...base, self: b, entry: e, token: token(a, [b], 4), live: new Set([a]) })).toMatchObject({ kind: 'promote', from: { primary: c, epoch: 6 } })
  })

  it('a node named as backup but without a copy of that epoch passes on instead of promoting', () => {
    expect(route({ ...base, self: b, entry: undefined, token: token(a, [b, c], 4), live: new Set([c]) })).toEqual({ kind: 'forward', to: c })
    expect(route({ ...base, self: b, entry: entry('backup', a, [b], 3), token: token(a, [b], 4), live: new Set() })).toEqual({ kind: 'no-replica', tried: [a, b] })
  })

  it('without a token a create starts a client, a backup passes it to the primary; forwarding stops at the hop limit', () => {
    expect(route({ ...base, self: a, entry: undefined, token: undefined, live: new Set(), isCreate: true })).toEqual({ kind: 'create' })
    expect(route({ ...base, self: a, entry: entry('backup', b, [a], 1), token: undefined, live: new Set([b]) })).toEqual({ kind: 'forward', to: b })
    expect(route({ ...base, self: a, entry: entry('backup', b, [a], 1), token: undefined, live: new Set() })).toEqual({ kind: 'need-token' })
    expect(route({ ...base, self: a, entry: undefined, token: undefined, live: new Set([b]) })).toEqual({ kind: 'need-token' })
    expect(route({ ...base, self: c, entry: undefined, token: token(a, [b], 1), live: new Set([a, b]), mayForward: false })).toEqual({ kind: 'no-replica', tried: [a, b] })
  })
})
