import { describe, expect, it } from 'vitest'
import { peerEnvironment } from '../../src/cli/peer-env.js'

describe('peerEnvironment', () => {
  it('limits glibc to 2 malloc arenas unless the operator chose a number', () => {
    expect(peerEnvironment({})).toEqual({ MALLOC_ARENA_MAX: '2' })
    // An operator's own setting is left alone, whatever it is.
    expect(peerEnvironment({ MALLOC_ARENA_MAX: '8' })).toEqual({})
    expect(peerEnvironment({ MALLOC_ARENA_MAX: '' })).toEqual({ MALLOC_ARENA_MAX: '2' })
  })
})
