/**
 * One tab of the browser benchmark (bench/browser.ts drives it through Playwright). `?sys=dm`: a
 * domainmesh member on IndexedDB (or `&storage=memory`); `?sys=yjs`: a Y.Doc in a y-webrtc room,
 * persisted by y-indexeddb in database `&db=` when given.
 * The orchestrator calls `window.bench.*` and gets plain results back; times are
 * `performance.timeOrigin + performance.now()`, one wall clock for every tab.
 */
import { IndexedDbStorage, MemoryStorage, MeshNode, WebRtcTransport, clusterId, nodeId } from '../../src/index.js'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebrtcProvider } from 'y-webrtc'
import * as Y from 'yjs'
import { changes, PlanTracker, type Plan } from '../workload.js'

const q = new URLSearchParams(location.search)
const now = () => performance.timeOrigin + performance.now()
/** One event-loop turn without the browser's 4 ms clamp on nested timers (a 200-change burst would wait 4 ms each). */
const channel = new MessageChannel()
const waiting: (() => void)[] = []
channel.port1.onmessage = () => waiting.shift()?.()
const turn = () => new Promise<void>((r) => (waiting.push(r), channel.port2.postMessage(0)))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let tracker: PlanTracker | undefined

interface System {
  ready(): Promise<void>
  fill(objects: number, fields: number): Promise<void>
  /** Issues one change; resolves at once (not awaited by the writer). */
  change(object: number, field: number, value: number): void
  /** Resolves when every change issued so far is acknowledged (domainmesh) or at once (Yjs). */
  settled(): Promise<number>
  /** Objects this tab's copy holds (Yjs only; domainmesh's fill is acknowledged by every replica). */
  size(): number
  /**
   * When every IndexedDB write this tab's copy has issued so far has committed (Yjs + y-indexeddb,
   * whose writes are not awaited by anything; NaN otherwise).
   */
  persisted(): Promise<number>
}

function domainmesh(): System {
  const id = q.get('node')!
  const node = new MeshNode({
    clusterId: clusterId('it'),
    nodeId: nodeId(id),
    transport: new WebRtcTransport({ iceServers: [] }),
    storage: q.get('storage') === 'memory' ? new MemoryStorage() : new IndexedDbStorage({ dbName: `bench-${id}-${q.get('run')}` }),
    topology: { urls: [q.get('topology')!], secret: q.get('secret')! },
  })
  // The store exists once the node has started.
  const started = node.start().then(() => {
    const s = node.store('bench')
    s.subscribe({ prefix: 'o' }, (e) => {
      const p = e.change.kind === 'patch' ? e.change.patches[0] : undefined
      if (tracker && typeof p?.value === 'number') tracker.seen(Number(e.key.slice(1)), Number((p.path[0] as string).slice(1)), p.value)
    }, { from: 'local' })
    return s
  })
  let store!: Awaited<typeof started>
  let acks: Promise<unknown>[] = []
  let errors = 0
  return {
    ready: async () => void (store = await started),
    fill: async (objects, fields) => {
      const value = Object.fromEntries(Array.from({ length: fields }, (_, f) => [`f${f}`, 0]))
      let next = 0
      await Promise.all(Array.from({ length: 32 }, async () => {
        for (let i = next++; i < objects; i = next++) await store.put(`o${i}`, { ...value })
      }))
    },
    change: (object, field, value) => void acks.push(store.patch(`o${object}`, [{ op: 'replace', path: [`f${field}`], value }]).catch(() => void errors++)),
    settled: async () => {
      await Promise.all(acks)
      acks = []
      return errors
    },
    size: () => NaN,
    persisted: async () => NaN,
  }
}

function yjs(): System {
  const doc = new Y.Doc()
  const objects = doc.getMap<Y.Map<number>>('objects')
  const dbName = q.get('db')
  // Before the provider, as y-indexeddb's README does: the doc loads what is stored, then syncs.
  const persistence = dbName ? new IndexeddbPersistence(dbName, doc) : undefined
  const provider = new WebrtcProvider(q.get('room')!, doc, { signaling: [q.get('signaling')!], filterBcConns: true, peerOpts: { config: { iceServers: [] } } })
  const keyOf = new Map<unknown, number>()
  objects.observeDeep((events) => {
    if (!tracker) return
    for (const e of events) if (e.target !== objects) for (const k of (e as Y.YMapEvent<number>).keysChanged) {
      const v = (e.target as Y.Map<number>).get(k)
      if (typeof v !== 'number') continue
      let o = keyOf.get(e.target)
      if (o === undefined) keyOf.set(e.target, (o = Number((e.path[0] as string).slice(1))))
      tracker.seen(o, Number(k.slice(1)), v)
    }
  })
  const conns = () => (provider as unknown as { room: { webrtcConns: Map<string, { connected: boolean }> } | null }).room?.webrtcConns
  return {
    ready: async () => {
      await persistence?.whenSynced
      const peers = Number(q.get('peers') ?? 2)
      while (!((conns()?.size ?? 0) >= peers && [...conns()!.values()].every((c) => c.connected))) await sleep(50)
    },
    fill: async (n, fields) => {
      for (let start = 0; start < n; start += 50) {
        doc.transact(() => {
          for (let i = start; i < Math.min(n, start + 50); i++) {
            const m = new Y.Map<number>()
            for (let f = 0; f < fields; f++) m.set(`f${f}`, 0)
            objects.set(`o${i}`, m)
          }
        })
        await sleep(5)
      }
    },
    change: (object, field, value) => objects.get(`o${object}`)!.set(`f${field}`, value),
    settled: async () => 0,
    size: () => objects.size,
    persisted: async () => {
      if (!persistence) return NaN
      // y-indexeddb puts each update in its own transaction on 'updates'; readwrite transactions on
      // one store commit in the order they were created, so this one completes after all of them.
      const tx = persistence.db!.transaction(['updates'], 'readwrite')
      await new Promise<void>((resolve, reject) => ((tx.oncomplete = () => resolve()), (tx.onerror = () => reject(tx.error))))
      return now()
    },
  }
}

const sys = q.get('sys') === 'yjs' ? yjs() : domainmesh()
let done: Promise<{ at: number; times?: Record<number, number> }> | undefined

const bench = {
  ready: () => sys.ready(),
  fill: (objects: number, fields: number) => sys.fill(objects, fields),
  /** Resolves once this tab holds `n` objects (Yjs: the map's size; domainmesh: every key readable locally). */
  /** Starts watching this tab's copy for `plan`; `done()` then resolves when it holds all of it. */
  track: (plan: Plan, times = false) => {
    const t = (tracker = new PlanTracker(plan, now))
    done = t.complete().then((at) => {
      if (tracker === t) tracker = undefined
      return { at, times: times ? Object.fromEntries(t.arrived) : undefined }
    })
  },
  done: () => done,
  size: () => sys.size(),
  persisted: () => sys.persisted(),
  write: async (plan: Plan, gapMs = 0) => {
    const sent: Record<number, number> = {}
    const t0 = now()
    let i = 0
    for (const c of changes(plan)) {
      if (gapMs) sent[c.value] = now()
      sys.change(c.object, c.field, c.value)
      if (gapMs) await sleep(gapMs)
      else if (++i % 200 === 0) await turn()
    }
    const loopEnd = now()
    const errors = await sys.settled()
    return { t0, loopEnd, settledAt: now(), sent: gapMs ? sent : undefined, errors }
  },
}
;(window as unknown as { bench: typeof bench }).bench = bench
document.title = 'ready'
