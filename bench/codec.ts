/**
 * The msgpack codec (src/wire/msgpack.ts) against msgpackr as the SDK used it before, on typical frames and
 * stored values: encode and decode throughput, interleaved round by round so that both see the
 * same machine. `npx tsx bench/codec.ts [--rounds 7] [--ms 300]`; not part of `npm run bench`.
 * Frames are the raw arrays encodeFrame hands to the encoder (the rest of encodeFrame and
 * decodeFrame is the same code for both).
 */
import { Packr } from 'msgpackr'
import { createEncoder, decode } from '../src/wire/msgpack.js'

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const ROUNDS = arg('rounds', 7)
const MS = arg('ms', 300)

const oldFrames = new Packr({ useRecords: true, mapsAsObjects: true, variableMapSize: true })
const oldValues = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
const encoder = createEncoder()

const entry = (seq: number) => [seq, 3, seq, `obj-${seq % 1000}`, { kind: 'patch', patches: [{ op: 'replace', path: ['fields', `f${seq % 20}`], value: seq * 7 }] }]
const append = (domain: number, first: number) => ({ type: 'append', domain, epoch: 3, head: first + 4, commit: first, entries: [0, 1, 2, 3, 4].map((i) => entry(first + i)) })
const ack = (domain: number) => ({ type: 'ack', domain, epoch: 3, upTo: 1000 + domain })
const addresses = ['~store', '.store']

const cases: { name: string; value: unknown; records: boolean }[] = [
  // A primary's flush to a backup under load: one `msgs` envelope of 20 appends of 5 entries.
  { name: 'frame: 20 appends x 5 entries', value: [3, addresses, [4, 0, 1, 'repl', Array.from({ length: 20 }, (_, d) => append(d, 100 * d))]], records: true },
  // A backup's acks back.
  { name: 'frame: 20 acks', value: [3, addresses, [4, 0, 1, 'repl', Array.from({ length: 20 }, (_, d) => ack(d))]], records: true },
  // One client write, and its answer.
  { name: 'frame: one put request', value: [3, addresses, [0, 0, 1, 4711, 'put', { key: 'user:42', value: { name: 'Ada Lovelace', email: 'ada@example.com', tags: ['math', 'engines'], visits: 12 } }]], records: true },
  { name: 'frame: one response', value: [3, addresses, [1, 1, 0, 4711, { seq: 1234, version: 7, replicas: 3 }]], records: true },
  // Stored values: a log segment of 50 entries, and 100 object records of a snapshot.
  { name: 'stored: log segment, 50 entries', value: Array.from({ length: 50 }, (_, i) => entry(i)), records: false },
  { name: 'stored: 100 object records', value: Array.from({ length: 100 }, (_, i) => [`obj-${i}`, { fields: Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`f${f}`, i * f])) }, 9, 1]), records: false },
]

/**
 * Operations per second of `fn` over about MS milliseconds of this process's CPU time: on a
 * machine shared with other jobs, wall time would count the time spent waiting for a core.
 */
function rate(fn: () => unknown): number {
  const cpu = () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1000
  }
  let n = 0
  const start = cpu()
  let now = start
  while (now - start < MS) {
    for (let i = 0; i < 50; i++) fn()
    n += 50
    now = cpu()
  }
  return (n * 1000) / (now - start)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`)

console.log(`Node ${process.version}, ${ROUNDS} rounds of ${MS} ms of CPU time per figure, median; operations per CPU second`)
console.log('| case | bytes old / new | encode old | encode new | decode old | decode new |')
console.log('|---|---|---|---|---|---|')
for (const c of cases) {
  const packr = c.records ? oldFrames : oldValues
  const oldBytes = Uint8Array.from(packr.pack(c.value))
  const newBytes = Uint8Array.from(encoder.encode(c.value, c.records))
  const r = { encOld: [] as number[], encNew: [] as number[], decOld: [] as number[], decNew: [] as number[] }
  for (let round = 0; round < ROUNDS; round++) {
    r.encOld.push(rate(() => packr.pack(c.value)))
    r.encNew.push(rate(() => encoder.encode(c.value, c.records)))
    r.decOld.push(rate(() => packr.unpack(oldBytes)))
    r.decNew.push(rate(() => decode(newBytes)))
  }
  const [eo, en, dold, dn] = [median(r.encOld), median(r.encNew), median(r.decOld), median(r.decNew)]
  console.log(`| ${c.name} | ${oldBytes.length} / ${newBytes.length} | ${fmt(eo)} | ${fmt(en)} (${(en / eo).toFixed(2)}x) | ${fmt(dold)} | ${fmt(dn)} (${(dn / dold).toFixed(2)}x) |`)
}
