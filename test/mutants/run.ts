/**
 * npm run mutants [-- --only NAME[,NAME]] [--seeds N] [--skip-processes] [--all-vitest] [--baseline] [--keep] [--list]
 *
 * Plants each bug of mutants.ts in turn into a throwaway copy of the repository (src/, test/,
 * demo/, bench/ and the config files; node_modules is a symlink) and runs against it:
 *   (a) the simulation seeds `npm test` runs (test/sim/npm-test-seeds.ts; `--seeds N` runs 1..N
 *       instead of 1..300, the classic regressions always), counting the seeds that fail;
 *   (b) the mutant's focused vitest files (`--all-vitest`: every vitest file but the simulation
 *       and the real-process ones);
 *   (c) the real-process tests (mutants.ts REAL_PROCESS_TESTS), unless `--skip-processes`.
 * Then it prints one row per mutant. A mutant is CAUGHT when at least one npm-test seed fails and
 * at least one real-process test fails; the exit code is 1 if any is MISSED, 2 if a run could not
 * be judged (a child that printed no result, an anchor not found). `--baseline` first runs the
 * same on an unmutated copy, which must fail nothing (else every verdict is suspect).
 * Runs inside .ci/isolate (the npm script does that): the real-process tests open sockets.
 */
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { MUTANTS, REAL_PROCESS_TESTS, type Edit, type Mutant } from './mutants.js'

const ROOT = join(import.meta.dirname, '../..')
const COPIED_DIRS = ['src', 'test', 'demo', 'bench']
const COPIED_FILES = ['package.json', 'tsconfig.json', 'tsconfig.check.json', 'vitest.config.ts', 'vite.config.ts', 'playwright.config.ts']
/** Left out of `--all-vitest`: run in (a) and (c), or too slow to repeat per mutant. */
const NOT_IN_ALL_VITEST = ['test/sim/sim.test.ts', 'test/faults/', 'test/integration/', 'test/e2e/']
const SIM_TIMEOUT_MS = 20 * 60_000
const VITEST_TIMEOUT_MS = 15 * 60_000

class AnchorError extends Error {
  constructor(mutant: string, edit: Edit, count: number) {
    super(`mutant "${mutant}": the anchor must occur exactly once in ${edit.file}, found ${count} times; update test/mutants/mutants.ts to the current code:\n${edit.find}`)
    this.name = 'AnchorError'
  }
}

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    seeds: { type: 'string' },
    jobs: { type: 'string' },
    'skip-processes': { type: 'boolean' },
    'all-vitest': { type: 'boolean' },
    baseline: { type: 'boolean' },
    keep: { type: 'boolean' },
    list: { type: 'boolean' },
  },
})

if (values.list) {
  for (const m of MUTANTS) console.log(`${m.name}: ${m.what}`)
  process.exit(0)
}

const only = values.only?.split(',').map((s) => s.trim())
const unknown = only?.filter((n) => !MUTANTS.some((m) => m.name === n)) ?? []
if (unknown.length > 0) {
  console.error(`unknown mutant(s): ${unknown.join(', ')}; known: ${MUTANTS.map((m) => m.name).join(', ')}`)
  process.exit(2)
}
const seeds = values.seeds === undefined ? undefined : Number(values.seeds)
if (seeds !== undefined && !(Number.isInteger(seeds) && seeds >= 0)) {
  console.error(`--seeds must be a whole number, not ${values.seeds}`)
  process.exit(2)
}
const jobs = Number(values.jobs ?? Math.min(2, availableParallelism()))
const selected = MUTANTS.filter((m) => !only || only.includes(m.name))
const BASELINE: Mutant = { name: '(none: baseline)', what: 'the code as it is', edits: [], vitest: [...new Set(selected.flatMap((m) => m.vitest))] }

// ---- the copy and the mutation ----

function occurrences(text: string, find: string): number {
  let n = 0
  for (let at = text.indexOf(find); at >= 0; at = text.indexOf(find, at + 1)) n++
  return n
}

/** Every selected anchor against the working tree first, so a stale one stops the run at once. */
async function checkAnchors(mutants: Mutant[]): Promise<void> {
  for (const m of mutants) {
    // Applied in order on one text, as in the copy: an earlier edit may not disturb a later anchor.
    const texts = new Map<string, string>()
    for (const e of m.edits) {
      const text = texts.get(e.file) ?? (await readFile(join(ROOT, e.file), 'utf8'))
      const n = occurrences(text, e.find)
      if (n !== 1) throw new AnchorError(m.name, e, n)
      texts.set(e.file, text.replace(e.find, () => e.replace))
    }
  }
}

async function makeCopy(m: Mutant): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `dm-mutant-${m.name.replace(/[^a-z0-9-]/gi, '')}-`))
  for (const d of COPIED_DIRS) await cp(join(ROOT, d), join(dir, d), { recursive: true, filter: (src) => !src.includes('/bench/results/') })
  for (const f of COPIED_FILES) await cp(join(ROOT, f), join(dir, f))
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  for (const e of m.edits) {
    const path = join(dir, e.file)
    const text = await readFile(path, 'utf8')
    const n = occurrences(text, e.find)
    if (n !== 1) throw new AnchorError(m.name, e, n)
    await writeFile(path, text.replace(e.find, () => e.replace))
  }
  return dir
}

// ---- children ----

interface ChildResult {
  code: number | null
  timedOut: boolean
  stdout: string
}

/** Runs `node args` in `cwd` as its own process group (so a timeout stops its children too), its output kept in `log`. */
function run(cwd: string, args: string[], log: string, timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const out = openSync(log, 'w')
    const child = spawn(process.execPath, args, { cwd, detached: true, stdio: ['ignore', 'pipe', out], env: { ...process.env, FORCE_COLOR: '0' } })
    closeSync(out)
    running.add(child.pid!)
    let stdout = ''
    let timedOut = false
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child.pid!)
    }, timeoutMs)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      running.delete(child.pid!)
      // Whatever the tests started and left behind goes with the group.
      killGroup(child.pid!)
      resolve({ code, timedOut, stdout })
    })
  })
}

const running = new Set<number>()
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

// ---- (a) seeds ----

interface SeedOutcome {
  run: number
  failed: { seed: number; faults: string; why: string }[]
  error?: string
}

async function runSeeds(dir: string): Promise<SeedOutcome> {
  const shards = await Promise.all(
    Array.from({ length: jobs }, (_, i) =>
      run(dir, ['--import', 'tsx', 'test/mutants/sim-seeds.ts', `--shard`, `${i}/${jobs}`, ...(seeds === undefined ? [] : ['--seeds', String(seeds)])], join(dir, `sim-${i}.log`), SIM_TIMEOUT_MS),
    ),
  )
  const total: SeedOutcome = { run: 0, failed: [] }
  for (const [i, s] of shards.entries()) {
    const line = s.stdout.trim().split('\n').at(-1) ?? ''
    if (s.timedOut || !line.startsWith('{')) {
      const tail = (await readFile(join(dir, `sim-${i}.log`), 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ')
      total.error = `${total.error ? `${total.error}; ` : ''}seed shard ${i} ${s.timedOut ? 'timed out' : `exited ${s.code} with no result`}: ${tail}`
      continue
    }
    const r = JSON.parse(line) as SeedOutcome
    total.run += r.run
    total.failed.push(...r.failed)
  }
  total.failed.sort((a, b) => a.seed - b.seed)
  return total
}

// ---- (b), (c) vitest ----

interface VitestOutcome {
  total: number
  failed: { file: string; test: string; message: string }[]
  error?: string
}

interface JsonReport {
  testResults?: {
    name: string
    status?: string
    message?: string
    assertionResults?: { title?: string; fullName?: string; status?: string; failureMessages?: string[] }[]
  }[]
}

async function runVitest(dir: string, files: string[], tag: string): Promise<VitestOutcome> {
  const report = join(dir, `vitest-${tag}.json`)
  const r = await run(dir, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=json', `--outputFile=${report}`, ...files], join(dir, `vitest-${tag}.log`), VITEST_TIMEOUT_MS)
  let json: JsonReport
  try {
    json = JSON.parse(await readFile(report, 'utf8')) as JsonReport
  } catch {
    const tail = (await readFile(join(dir, `vitest-${tag}.log`), 'utf8').catch(() => '')).trim().split('\n').slice(-8).join(' | ')
    return { total: 0, failed: [], error: `vitest (${tag}) ${r.timedOut ? 'timed out' : `exited ${r.code}`} with no report: ${tail}` }
  }
  const out: VitestOutcome = { total: 0, failed: [] }
  for (const f of json.testResults ?? []) {
    const file = relative(dir, f.name)
    const tests = f.assertionResults ?? []
    out.total += tests.length
    const failed = tests.filter((t) => t.status === 'failed')
    for (const t of failed) out.failed.push({ file, test: t.title ?? t.fullName ?? '?', message: firstLine(t.failureMessages?.[0]) })
    // A file that failed outside its tests (an import, a hook) counts once as itself.
    if (failed.length === 0 && f.status === 'failed') out.failed.push({ file, test: '(file failed outside its tests)', message: firstLine(f.message) })
  }
  if (r.timedOut) out.error = `vitest (${tag}) timed out after ${VITEST_TIMEOUT_MS / 60_000} min`
  return out
}

const firstLine = (s: string | undefined): string => (s ?? '').trim().split('\n')[0]!.slice(0, 160)

async function allVitestFiles(): Promise<string[]> {
  const files = (await readdir(join(ROOT, 'test'), { recursive: true })).map((f) => `test/${f}`)
  return files.filter((f) => f.endsWith('.test.ts') && !NOT_IN_ALL_VITEST.some((x) => f.startsWith(x))).sort()
}

// ---- one mutant ----

interface Row {
  mutant: Mutant
  seeds: SeedOutcome
  vitest?: VitestOutcome
  processes?: VitestOutcome
  minutes: number
}

async function check(m: Mutant, extraVitest: string[]): Promise<Row> {
  const started = Date.now()
  const dir = await makeCopy(m)
  try {
    console.log(`\n== ${m.name}: ${m.what}`)
    const seedOutcome = await runSeeds(dir)
    console.log(`   seeds: ${seedOutcome.failed.length} of ${seedOutcome.run} failed${seedOutcome.error ? ` (${seedOutcome.error})` : ''}`)
    const files = [...new Set([...m.vitest, ...extraVitest])]
    const vitest = files.length > 0 ? await runVitest(dir, files, 'focused') : undefined
    if (vitest) console.log(`   vitest: ${vitest.failed.length} of ${vitest.total} failed${vitest.error ? ` (${vitest.error})` : ''}`)
    const processes = values['skip-processes'] ? undefined : await runVitest(dir, REAL_PROCESS_TESTS, 'processes')
    if (processes) console.log(`   real processes: ${processes.failed.length} of ${processes.total} failed${processes.error ? ` (${processes.error})` : ''}`)
    return { mutant: m, seeds: seedOutcome, vitest, processes, minutes: (Date.now() - started) / 60_000 }
  } finally {
    if (values.keep) console.log(`   kept: ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  }
}

// ---- the table ----

const shortName = (file: string) => basename(file).replace(/\.test\.ts$/, '')

function failedCell(o: VitestOutcome | undefined): string {
  if (!o) return 'skipped'
  const files = [...new Set(o.failed.map((f) => shortName(f.file)))]
  return `${o.failed.length} / ${o.total}${files.length ? ` (${files.join(', ')})` : ''}${o.error ? ' [incomplete]' : ''}`
}

function verdict(r: Row): { text: string; missed: boolean; unjudged: boolean } {
  const unjudged = r.seeds.error !== undefined || r.vitest?.error !== undefined || r.processes?.error !== undefined
  if (r.mutant === BASELINE) {
    const dirty = r.seeds.failed.length + (r.vitest?.failed.length ?? 0) + (r.processes?.failed.length ?? 0) > 0
    return { text: dirty ? 'DIRTY: fails unmutated' : 'clean', missed: false, unjudged }
  }
  const bySeeds = r.seeds.failed.length > 0
  const byProcesses = r.processes ? r.processes.failed.length > 0 : undefined
  const misses = [...(bySeeds ? [] : ['seeds']), ...(byProcesses === false ? ['real processes'] : [])]
  if (misses.length > 0) return { text: `MISSED by ${misses.join(' and ')}`, missed: true, unjudged }
  return { text: byProcesses === undefined ? 'CAUGHT by seeds (processes skipped)' : 'CAUGHT', missed: false, unjudged }
}

function printTable(rows: Row[]): void {
  const head = ['mutant', 'seeds failed / run', 'vitest tests failed', 'real-process tests failed', 'verdict']
  const lines = rows.map((r) => [r.mutant.name, `${r.seeds.failed.length} / ${r.seeds.run}${r.seeds.error ? ' [incomplete]' : ''}`, failedCell(r.vitest), failedCell(r.processes), verdict(r).text])
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`)
  for (const l of lines) console.log(`| ${l.join(' | ')} |`)
  console.log('\nDetails:')
  for (const r of rows) {
    console.log(`${r.mutant.name} (${r.minutes.toFixed(1)} min):`)
    if (r.seeds.failed.length > 0) {
      const list = r.seeds.failed.map((f) => `${f.seed}${f.faults === 'classic' ? ' (classic)' : ''}`)
      console.log(`  seeds: ${list.slice(0, 20).join(' ')}${list.length > 20 ? ` … (${list.length} in all)` : ''}; first: seed ${r.seeds.failed[0]!.seed}: ${r.seeds.failed[0]!.why}`)
    }
    for (const [label, o] of [['vitest', r.vitest], ['process', r.processes]] as const) for (const f of o?.failed ?? []) console.log(`  ${label}: ${shortName(f.file)} › ${f.test}${f.message ? ` — ${f.message}` : ''}`)
    for (const e of [r.seeds.error, r.vitest?.error, r.processes?.error]) if (e) console.log(`  could not judge: ${e}`)
  }
}

// ---- main ----

const cleanup = () => {
  for (const pid of running) killGroup(pid)
}
process.once('SIGINT', () => {
  cleanup()
  process.exit(130)
})
process.once('SIGTERM', () => {
  cleanup()
  process.exit(143)
})

try {
  await checkAnchors(selected)
} catch (err) {
  console.error(String((err as Error).message))
  process.exit(2)
}
const extra = values['all-vitest'] ? await allVitestFiles() : []
const started = Date.now()
console.log(`${selected.length} mutants; seeds ${seeds === undefined ? 'as npm test' : `1..${seeds}`} (+ classic regressions) in ${jobs} processes; ${values['all-vitest'] ? `focused + ${extra.length} vitest files` : 'focused vitest files'}; real processes ${values['skip-processes'] ? 'skipped' : REAL_PROCESS_TESTS.map(shortName).join(', ')}`)

const rows: Row[] = []
let baselineDirty = false
if (values.baseline) {
  const b = await check(BASELINE, extra)
  baselineDirty = b.seeds.failed.length > 0 || (b.vitest?.failed.length ?? 0) > 0 || (b.processes?.failed.length ?? 0) > 0
  rows.push(b)
}
for (const m of selected) rows.push(await check(m, extra))

const judged = rows.filter((r) => r.mutant !== BASELINE)
printTable(rows)
const missed = judged.filter((r) => verdict(r).missed)
const unjudged = rows.filter((r) => verdict(r).unjudged)
console.log(`\n${judged.length - missed.length} of ${judged.length} mutants caught in ${((Date.now() - started) / 60_000).toFixed(1)} min`)
if (baselineDirty) console.log('the unmutated baseline failed something: the verdicts above are not to be trusted')
if (missed.length > 0) console.log(`missed: ${missed.map((r) => `${r.mutant.name} (${verdict(r).text})`).join(', ')}`)
process.exit(missed.length > 0 || baselineDirty ? 1 : unjudged.length > 0 ? 2 : 0)
