/**
 * Writes the store options table of docs/api.md from the one options schema
 * (src/replication/tuning.ts: checks, defaults) and its docs (tuning-docs.ts): `npm run docs:options`. test/node/options.test.ts fails while the
 * table in the docs differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { TUNING_DOCS, type TuningGroup } from '../src/replication/tuning-docs.js'
import { TUNING_OPTIONS } from '../src/replication/tuning.js'

export const DOC = fileURLToPath(new URL('../docs/api.md', import.meta.url))
const START = '<!-- options:start (npm run docs:options writes this table) -->'
const END = '<!-- options:end -->'

const cell = (s: string): string => s.replaceAll('|', '\\|')
const shown = (x: unknown): string => (typeof x === 'number' ? x.toLocaleString('en-US') : typeof x === 'string' ? `'${x}'` : JSON.stringify(x))

/** The markdown between the markers: one table per group. */
export function optionsTable(): string {
  const groups: [TuningGroup, string][] = [
    ['store', "MeshNode's `store` option:"],
    ['advanced', 'Advanced (the dials the benchmarks turn; `store` too):'],
  ]
  return groups
    .map(([group, title]) => {
      const rows = TUNING_OPTIONS.filter((o) => TUNING_DOCS[o.name].group === group).map((o) => `| \`${o.name}\` | ${shown(o.default)} | ${cell(o.must)} | ${cell(TUNING_DOCS[o.name].doc)} |`)
      return [title, '', '| option | default | must be | what it does |', '|---|---|---|---|', ...rows].join('\n')
    })
    .join('\n\n')
}

/** `text` with the table between the markers replaced. */
export function withTable(text: string): string {
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error(`docs/api.md has no ${START} ... ${END} markers`)
  return `${text.slice(0, a + START.length)}\n${optionsTable()}\n${text.slice(b)}`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(DOC, withTable(readFileSync(DOC, 'utf8')))
  console.log('docs/api.md: options table written')
}
