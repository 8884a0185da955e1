/** Measures the raw data-channel limit and prints it as one JSON line (run by raw.ts). */
import { rawLimit } from './raw.js'

const r = await rawLimit()
process.stdout.write(`${JSON.stringify({ op: 'raw', ...r })}\n`)
process.exit(0)
