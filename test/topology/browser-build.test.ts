/**
 * The etcd client (etcd3, with gRPC) belongs to the Node entry and the CLI only: the browser build
 * must never load it. Two real vite builds record every module they load (before tree-shaking,
 * dynamic imports included): the SDK's browser entry (src/index.ts, as a library) and the demo app.
 */
import { join } from 'node:path'
import { build, type Plugin } from 'vite'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '../..')
const NODE_ONLY = /node_modules\/(etcd3|@grpc|cockatiel)\/|src\/server\/etcd-topology\.ts/

async function loadedBy(config: Parameters<typeof build>[0]): Promise<string[]> {
  const loaded: string[] = []
  const record: Plugin = { name: 'record-loads', load: (id) => void loaded.push(id.startsWith(ROOT) ? id.slice(ROOT.length + 1) : id) }
  await build({ ...config, logLevel: 'silent', plugins: [record], build: { ...config?.build, write: false } })
  return loaded
}

describe('the browser build', () => {
  it('of the SDK entry (src/index.ts) loads no etcd client', async () => {
    const loaded = await loadedBy({ configFile: false, root: ROOT, build: { target: 'es2022', lib: { entry: join(ROOT, 'src/index.ts'), formats: ['es'], fileName: 'index' } } })
    expect(loaded).toContain('src/topology/failover.ts') // the browser's side of the URL list is in it
    expect(loaded.filter((id) => NODE_ONLY.test(id))).toEqual([])
  }, 60_000)

  it('of the demo app loads no etcd client', async () => {
    const loaded = await loadedBy({ configFile: join(ROOT, 'vite.config.ts') })
    expect(loaded).toContain('src/node/mesh-node.ts')
    expect(loaded.filter((id) => NODE_ONLY.test(id))).toEqual([])
  }, 60_000)
})
