// Each tab is a node of the mesh: its replicas live in IndexedDB, and it talks to the other tabs
// over WebRTC. ?topology=ws://…&node=NAME&members=N (defaults below).
import { IndexedDbStorage, MeshNode, WebRtcTransport, clusterId, nodeId, websocketConnector } from 'domainmesh'

const q = new URLSearchParams(location.search)
const name = q.get('node') ?? `tab-${Math.random().toString(36).slice(2, 8)}`
const node = new MeshNode({
  clusterId: clusterId('example'),
  nodeId: nodeId(name),
  transport: new WebRtcTransport(), // the browser's RTCPeerConnection; no ICE servers by default
  storage: new IndexedDbStorage({ dbName: `domainmesh-example-${name}` }),
  topology: { connect: websocketConnector(q.get('topology') ?? 'ws://127.0.0.1:7700'), secret: q.get('secret') ?? 'example-secret' },
})
const store = (await node.start()).store('notes')
const status = document.querySelector('#status')
const note = document.querySelector('#note')

status.textContent = `${name}: waiting for the replicas`
await node.ready({ members: Number(q.get('members') ?? 1) })
status.textContent = `${name}: ready`
const show = async () => (note.textContent = (await store.get('note'))?.text ?? '')
store.subscribe('note', () => void show())
await show()

document.querySelector('#form').addEventListener('submit', async (event) => {
  event.preventDefault()
  await store.put('note', { text: document.querySelector('#text').value })
})
// For scripts driving the page (the package's consumer test does).
window.example = { node, store, ready: true }
