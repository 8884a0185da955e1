/** Child process for the crash test: rewrites one key forever with alternating 4 MiB values. */
import { FileStorage } from '../../src/storage/files.js'

const dir = process.argv[2]!
const st = await FileStorage.open(dir)
const a = new Uint8Array(4 << 20).fill(0xaa)
const b = new Uint8Array(4 << 20).fill(0xbb)
await st.put(['k'], a)
process.stdout.write('ready\n')
for (let i = 1; ; i++) await st.put(['k'], i % 2 ? b : a)
