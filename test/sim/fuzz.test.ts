import { describe, expect, it } from 'vitest'
import { fuzzAll } from './fuzz.js'

describe('fuzzing', () => {
  it('every decoder and the patch guard survive 5,000 generated inputs each with named errors only', { timeout: 120_000 }, () => {
    expect(fuzzAll(5000).length).toBeGreaterThanOrEqual(8)
  })
})
