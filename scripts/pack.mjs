#!/usr/bin/env node
/**
 * Packs the package as it is published: a fresh build, the files package.json lists, and a
 * package.json without what only this repository uses (devDependencies, scripts, overrides).
 * `node scripts/pack.mjs [DEST]` writes DEST/domainmesh-VERSION.tgz (default: .pack/) and prints
 * its path. Publish that tarball (`npm publish .pack/domainmesh-VERSION.tgz`).
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const dest = resolve(process.argv[2] ?? join(root, '.pack'))
const stage = join(dest, 'package')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

execFileSync(npm, ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
rmSync(stage, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
for (const entry of pkg.files) cpSync(join(root, entry), join(stage, entry), { recursive: true })
const { devDependencies: _dev, scripts: _scripts, overrides: _overrides, ...published } = pkg
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
const out = execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: stage, encoding: 'utf8' })
const [{ filename }] = JSON.parse(out)
rmSync(stage, { recursive: true, force: true })
console.log(join(dest, filename))
