import { Packr } from 'msgpackr'
const p = new Packr({ useRecords: true, mapsAsObjects: true, variableMapSize: true })
const q = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
window.codec = { a: (v) => p.pack(v), b: (x) => p.unpack(x), c: (v) => q.pack(v), d: (x) => q.unpack(x), e: (b) => q.useBuffer(b) }
