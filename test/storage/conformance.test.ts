import 'fake-indexeddb/auto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileStorage } from '../../src/storage/files.js'
import { IndexedDbStorage } from '../../src/storage/indexeddb.js'
import { MemoryStorage, type MemoryDisk } from '../../src/storage/memory.js'
import { runStorageTests } from '../conformance/storage.js'

runStorageTests('MemoryStorage', async () => {
  const disk: MemoryDisk = new Map()
  return { open: async () => new MemoryStorage(disk), teardown: async () => {} }
})

let dbCount = 0
runStorageTests('IndexedDbStorage (fake-indexeddb)', async () => {
  const dbName = `conformance-${process.pid}-${dbCount++}`
  return { open: async () => new IndexedDbStorage({ dbName }), teardown: async () => {} }
})

runStorageTests('FileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dm-files-'))
  return { open: () => FileStorage.open(dir), teardown: () => rm(dir, { recursive: true, force: true }) }
})
