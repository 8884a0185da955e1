import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidAddressError, InvalidIdError } from '../../src/errors.js'
import { nodeId } from '../../src/ids.js'
import { formatAddress, isExact, parseAddress } from '../../src/routing/address.js'

const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/)

describe('addresses', () => {
  it('parse(format(a)) is a for exact and partial addresses', () => {
    fc.assert(
      fc.property(id, id, id, fc.option(id, { nil: undefined }), fc.boolean(), (c, n, e, vs, exact) => {
        const text = `${c}/${exact ? n : '*'}/${e}${vs ? `@${vs}` : ''}`
        const a = parseAddress(text)
        expect(isExact(a)).toBe(exact)
        expect(formatAddress(a)).toBe(text)
      }),
    )
  })

  it('names what is wrong with a bad address', () => {
    expect(() => parseAddress('c/n')).toThrow(/expected cluster\/node\/engine/)
    expect(() => parseAddress('c/n/e/x')).toThrow(InvalidAddressError)
    expect(() => parseAddress('c/n/e@')).toThrow(/bad virtual server id/)
    expect(() => parseAddress('c/n n/e')).toThrow(/bad node id/)
    expect(() => parseAddress('/n/e')).toThrow(/bad cluster id/)
    expect(() => parseAddress('c/*/')).toThrow(/bad engine type/)
  })

  it('branded id constructors reject what would break an address or a file name', () => {
    for (const bad of ['', 'a/b', 'a:b', 'a b', '.hidden', '-x', 'x'.repeat(129)]) expect(() => nodeId(bad)).toThrow(InvalidIdError)
    expect(nodeId('node-1.a_b')).toBe('node-1.a_b')
  })
})
