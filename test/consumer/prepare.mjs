#!/usr/bin/env node
/**
 * The package as a user gets it (issue 32), the half that needs the npm registry, so it runs
 * before the tests enter their private network namespace (`npm test` runs it first):
 * packs the package as published (scripts/pack.mjs), installs the tarball with a plain
 * `npm install` into a fresh project (.consumer/app) with copies of examples/node and
 * examples/vite, builds the browser example with Vite and no configuration (no shims), checks the
 * bundle against its budget (size.mjs), and type-checks a consumer file under
 * `moduleResolution: "bundler"` and `"nodenext"`. test/e2e/consumer.spec.ts then runs the Node
 * example, the browser example in two Chromium tabs, and the domainmesh/testing suites against an
 * adapter (testing-entry.mjs) with the consumer's own vitest, inside the namespace.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { checkSize } from './size.mjs'

const root = resolve(import.meta.dirname, '../..')
const base = join(root, '.consumer')
const app = join(base, 'app')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const versionOf = (name) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
const step = (what) => console.log(`consumer: ${what}`)

rmSync(base, { recursive: true, force: true })
mkdirSync(app, { recursive: true })
step('packing')
const tarball = execFileSync(process.execPath, [join(root, 'scripts/pack.mjs'), base], { encoding: 'utf8' }).trim()

cpSync(join(root, 'examples/node'), join(app, 'node'), { recursive: true, filter: (f) => !f.endsWith('package.json') })
cpSync(join(root, 'examples/vite'), join(app, 'web'), { recursive: true, filter: (f) => !f.endsWith('package.json') })
cpSync(join(root, 'examples/vite-client'), join(app, 'web-client'), { recursive: true, filter: (f) => !f.endsWith('package.json') })
mkdirSync(join(app, 'testing'))
cpSync(join(root, 'test/consumer/testing-entry.mjs'), join(app, 'testing/adapter.test.mjs'))
// Its own config: vitest would otherwise find this repository's, further up.
writeFileSync(join(app, 'testing/vitest.config.mjs'), "export default { test: { include: ['*.test.mjs'] } }\n")
// The same tool versions as this repository's, so a warm npm cache serves them.
writeFileSync(
  join(app, 'package.json'),
  JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { domainmesh: `file:${tarball}` }, devDependencies: { vite: versionOf('vite'), typescript: versionOf('typescript'), vitest: versionOf('vitest') } }, null, 2),
)
step(`npm install ${tarball}`)
// Nothing from this repository's npm settings (its overrides live in its own package.json, not here).
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
const started = Date.now()
execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env, stdio: 'inherit' })
step(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`)

step('vite build (no config)')
execFileSync(join(app, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], { cwd: join(app, 'web'), env, stdio: 'inherit' })
execFileSync(join(app, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], { cwd: join(app, 'web-client'), env, stdio: 'inherit' })
step(checkSize(join(app, 'web/dist'), 'member'))
step(checkSize(join(app, 'web-client/dist'), 'client'))

step('type check (bundler and nodenext resolution)')
const check = join(app, 'check')
mkdirSync(check)
writeFileSync(
  join(check, 'bundler.ts'),
  `import { IndexedDbStorage, MeshNode, WebRtcTransport, websocketConnector } from 'domainmesh'
import { FileStorage, startTopologyServer, nodeTopologyConnector, WebRtcTransport as NodeWebRtcTransport } from 'domainmesh/node'
export const used = [IndexedDbStorage, MeshNode, WebRtcTransport, websocketConnector, FileStorage, startTopologyServer, nodeTopologyConnector, NodeWebRtcTransport]
`,
)
writeFileSync(
  join(check, 'nodenext.ts'),
  `import { FileStorage, MeshNode, startTopologyServer, WebRtcTransport } from 'domainmesh'
export const used = [FileStorage, MeshNode, startTopologyServer, WebRtcTransport]
`,
)
const common = { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2023', 'DOM'], types: [], skipLibCheck: true }
writeFileSync(join(check, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...common, module: 'ESNext', moduleResolution: 'bundler' }, files: ['bundler.ts'] }))
writeFileSync(join(check, 'tsconfig.nodenext.json'), JSON.stringify({ compilerOptions: { ...common, module: 'NodeNext', moduleResolution: 'NodeNext' }, files: ['nodenext.ts'] }))
for (const config of ['tsconfig.bundler.json', 'tsconfig.nodenext.json']) execFileSync(join(app, 'node_modules/.bin/tsc'), ['-p', config], { cwd: check, stdio: 'inherit' })
step('ready: test/e2e/consumer.spec.ts runs the examples')
