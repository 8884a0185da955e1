// Draws the import graph of src/ between folders, as a mermaid flowchart (npm run graph).
// A folder is one box; an arrow A --> B means some file in A imports a file in B, labelled with the
// number of such imports. `--files FOLDER` draws the files of one folder instead; `--no-entry`
// leaves out the package's entry points (they import everything they export); `--layers` also
// leaves out util, ids and errors.
// No dependency: it reads the relative `from '...'` specifiers of every .ts file under src/.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const root = resolve(dirname(new URL(import.meta.url).pathname), '..')
const src = join(root, 'src')
const args = process.argv.slice(2)
const filesOf = args.includes('--files') ? args[args.indexOf('--files') + 1] : undefined
const noEntry = args.includes('--no-entry')
// --layers: also leaves out the foundation every layer imports (util, ids, errors), so the
// arrows between the layers show.
const FOUNDATION = args.includes('--layers') ? new Set(['util', 'ids', 'errors', 'types']) : new Set()

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return walk(p)
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : []
  })
}

const ENTRIES = new Set(['index.ts', 'node.ts', 'testing.ts'])

/**
 * The box a source file belongs to: its folder under src/. Top-level files: the package's entry
 * points (index, node, testing) are one box, `entry`; any other (errors, ids) is its own.
 */
function boxOf(file) {
  const rel = relative(src, file).split('/')
  if (filesOf) return rel.length === 2 && rel[0] === filesOf ? rel[1].replace(/\.ts$/, '') : undefined
  if (rel.length > 1) return rel[0]
  return ENTRIES.has(rel[0]) ? 'entry' : rel[0].replace(/\.ts$/, '')
}

const edges = new Map()
for (const file of walk(src)) {
  const from = boxOf(file)
  if (from === undefined) continue
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts')
    const to = boxOf(target)
    if (to === undefined || to === from || (noEntry && (from === 'entry' || to === 'entry')) || FOUNDATION.has(from) || FOUNDATION.has(to)) continue
    const key = `${from} --> ${to}`
    edges.set(key, (edges.get(key) ?? 0) + 1)
  }
}

const id = (s) => s.replace(/[^A-Za-z0-9_]/g, '_')
const lines = ['flowchart LR']
for (const [key, n] of [...edges].sort(([a], [b]) => a.localeCompare(b))) {
  const [from, to] = key.split(' --> ')
  lines.push(`  ${id(from)}[${from}] -->|${n}| ${id(to)}[${to}]`)
}
process.stdout.write(lines.join('\n') + '\n')
