/** Re-renders bench/results/latest.md from latest.json (after a change to the report's layout). */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderReport, type Meta } from './report.js'
import type { Figure } from './stats.js'

const dir = join(import.meta.dirname, 'results')
const { results, ...meta } = JSON.parse(await readFile(join(dir, 'latest.json'), 'utf8')) as Meta & { results: Record<string, Figure> }
await writeFile(join(dir, 'latest.md'), renderReport(results, meta))
