#!/usr/bin/env node
/**
 * The browser bundle budgets: the JavaScript of the example Vite apps (built from the packed
 * package by prepare.mjs), minified as Vite minifies it and gzipped; past a budget this exits 1.
 * The goal is what Yjs + y-webrtc + y-indexeddb cost in the same kind of minimal app (compare.mjs
 * measures both).
 * - `client` (examples/vite-client, a MeshClient: the usual tab of an app's user) must meet it.
 * - `member` (examples/vite, a tab as a full member: replicas in IndexedDB, the client gate) is
 *   over it after gzip; its budget is today's size with a little room, so that growth is a
 *   decision: docs/design.md, "The browser bundle", says what is left.
 * `node test/consumer/size.mjs [DIST] [member|client]` (default: .consumer/app/web/dist, member).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'

export const GOAL = { minified: 193_800, gzip: 57_200 }
export const BUDGETS = { member: { minified: 193_800, gzip: 62_100 }, client: GOAL }

export function measure(dist) {
  const dir = join(dist, 'assets')
  let minified = 0
  let gzip = 0
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(join(dir, f))
    minified += code.byteLength
    gzip += gzipSync(code, { level: 9 }).byteLength
  }
  return { minified, gzip }
}

export function checkSize(dist, kind = 'member') {
  const budget = BUDGETS[kind]
  const size = measure(dist)
  const kB = (n) => `${(n / 1000).toFixed(1)} kB`
  const line = `browser bundle (${kind}): ${kB(size.minified)} minified, ${kB(size.gzip)} gzip (budget ${kB(budget.minified)} / ${kB(budget.gzip)}; goal, Yjs + y-webrtc + y-indexeddb: ${kB(GOAL.minified)} / ${kB(GOAL.gzip)})`
  if (size.minified > budget.minified || size.gzip > budget.gzip) throw new Error(`${line}: over the budget`)
  return line
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dist = resolve(process.argv[2] ?? join(import.meta.dirname, '../../.consumer/app/web/dist'))
  try {
    console.log(checkSize(dist, process.argv[3] ?? 'member'))
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
