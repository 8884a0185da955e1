import * as Y from 'yjs'
import { WebrtcProvider } from 'y-webrtc'
import { IndexeddbPersistence } from 'y-indexeddb'
const doc = new Y.Doc()
const q = new URLSearchParams(location.search)
new IndexeddbPersistence('example', doc)
new WebrtcProvider('example', doc, { signaling: [q.get('signaling') ?? 'ws://127.0.0.1:4444'], peerOpts: { config: { iceServers: [] } } })
const notes = doc.getMap('notes')
notes.observe(() => (document.querySelector('#out').textContent = notes.get('note')?.text ?? ''))
window.put = (text) => notes.set('note', { text })
