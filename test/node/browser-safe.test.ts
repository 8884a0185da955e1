/** The browser entry must not pull in Node built-ins or Node-only packages (no shims needed). */
import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const NODE_ONLY_PACKAGES = ['ws', 'node-datachannel', 'koffi']

function importGraph(entry: string): { files: Set<string>; bare: Map<string, string> } {
  const files = new Set<string>()
  const bare = new Map<string, string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    const src = readFileSync(file, 'utf8')
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = (m[1] ?? m[2])!
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      else bare.set(spec, file)
    }
  }
  visit(entry)
  return { files, bare }
}

describe('browser entry', () => {
  it('imports no Node built-in and no Node-only package', () => {
    const { files, bare } = importGraph(join(import.meta.dirname, '../../src/index.ts'))
    expect(files.size).toBeGreaterThan(10)
    const builtins = new Set(builtinModules)
    const offending = [...bare].filter(([spec]) => spec.startsWith('node:') || builtins.has(spec) || NODE_ONLY_PACKAGES.includes(spec.split('/')[0]!))
    expect(offending).toEqual([])
  })

  it('the Node entry does add the file storage', () => {
    const { files } = importGraph(join(import.meta.dirname, '../../src/node.ts'))
    expect([...files].some((f) => f.endsWith('storage/files.ts'))).toBe(true)
  })
})
