import Peer from '@thaunknown/simple-peer'
const p = new Peer({ initiator: true, config: { iceServers: [] } })
p.on('signal', (s) => (document.querySelector('#out').textContent = JSON.stringify(s)))
p.on('data', (d) => console.log(String(d)))
window.peer = p
