// Each tab is a client of the cluster (the usual browser tab of an app's user): no replica, no
// cluster secret, only a short-lived token from the app's auth endpoint (server.mjs here), and
// links to the few members it needs. ?topology=ws://…&auth=http://… (defaults below).
import { MeshClient } from 'domainmesh'

const q = new URLSearchParams(location.search)
const auth = q.get('auth') ?? 'http://127.0.0.1:7701/token'
const client = new MeshClient({
  clusterId: 'example',
  topology: { urls: [q.get('topology') ?? 'ws://127.0.0.1:7700'] },
  // Asked again before each token expires.
  token: () => fetch(`${auth}?user=${encodeURIComponent(q.get('user') ?? 'guest')}`).then((r) => r.text()),
})
await client.start()
const store = client.store('notes')
const status = document.querySelector('#status')
const note = document.querySelector('#note')
const show = async () => (note.textContent = (await store.get('note'))?.text ?? '')
store.subscribe('note', () => void show())
await show()
// Said once the tab follows the note (subscribed, first read done), not before.
status.textContent = `${client.subject}: connected`

document.querySelector('#form').addEventListener('submit', async (event) => {
  event.preventDefault()
  await store.put('note', { text: document.querySelector('#text').value })
})
// For scripts driving the page.
window.example = { client, store, ready: true }
