#!/usr/bin/env node
/**
 * The browser bundle against the libraries it is compared with (docs/design.md, "The browser
 * bundle"): packs the package, installs it with Yjs + y-webrtc + y-indexeddb, simple-peer,
 * msgpackr and Immer into .consumer/compare (with --ignore-scripts: simple-peer's Node path runs
 * an install script that needs GitHub, and only bundles are built here), builds each app of
 * test/consumer/compare/ and examples/vite with Vite and no configuration, and prints what
 * size.mjs measures. Needs the npm registry. `node test/consumer/compare.mjs [OLD_TARBALL]` adds
 * the example app and a `clusterId`-only app built from another version's tarball.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { measure } from './size.mjs'

const root = resolve(import.meta.dirname, '../..')
const base = join(root, '.consumer/compare')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const old = process.argv[2] ? resolve(process.argv[2]) : undefined
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const versionOf = (name) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version

rmSync(base, { recursive: true, force: true })
mkdirSync(join(base, 'apps'), { recursive: true })
const tarball = execFileSync(process.execPath, [join(root, 'scripts/pack.mjs'), base], { encoding: 'utf8' }).trim()
const dependencies = {
  domainmesh: `file:${tarball}`,
  yjs: '^13.6.33',
  'y-webrtc': '^10.3.0',
  'y-indexeddb': '^9.0.12',
  '@thaunknown/simple-peer': '^10.1.2',
  // The ranges the package asks for, so these resolve to the copies domainmesh gets.
  msgpackr: pkg.devDependencies.msgpackr,
  immer: pkg.dependencies.immer,
  ...(old ? { 'domainmesh-old': `file:${old}` } : {}),
}
writeFileSync(join(base, 'package.json'), JSON.stringify({ name: 'compare', private: true, type: 'module', dependencies, devDependencies: { vite: versionOf('vite') } }, null, 2))
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], { cwd: base, env, stdio: ['ignore', 'ignore', 'inherit'] })

const apps = join(base, 'apps')
for (const app of readdirSync(join(import.meta.dirname, 'compare'))) cpSync(join(import.meta.dirname, 'compare', app), join(apps, app), { recursive: true })
cpSync(join(root, 'examples/vite'), join(apps, 'domainmesh-example'), { recursive: true, filter: (f) => !f.endsWith('package.json') })
if (old) {
  // The example without what the older version lacks (ready()).
  for (const [from, to] of [['domainmesh-example', 'old-example'], ['domainmesh-clusterid', 'old-clusterid']]) {
    cpSync(join(apps, from), join(apps, to), { recursive: true })
    const main = join(apps, to, 'main.js')
    writeFileSync(main, readFileSync(main, 'utf8').replace("from 'domainmesh'", "from 'domainmesh-old'").replace(/^.*node\.ready.*$/m, ''))
  }
}
const kB = (n) => `${(n / 1000).toFixed(1)} kB`
for (const app of readdirSync(apps).sort()) {
  execFileSync(join(base, 'node_modules/.bin/vite'), ['build', '--logLevel', 'error'], { cwd: join(apps, app), env, stdio: ['ignore', 'ignore', 'inherit'] })
  const size = measure(join(apps, app, 'dist'))
  console.log(`${app.padEnd(22)} ${kB(size.minified).padStart(9)} minified ${kB(size.gzip).padStart(8)} gzip`)
}
