/**
 * The far end of `latency.ts`'s raw ping: a node-datachannel peer in its own process that echoes
 * every message. Signaling over the parent's IPC channel.
 */
import nodeDataChannel from 'node-datachannel'

const pc = new nodeDataChannel.PeerConnection('echo', { iceServers: [], bindAddress: '127.0.0.1' })
let channel: nodeDataChannel.DataChannel | undefined // held: a channel nothing refers to may be collected
pc.onLocalDescription((sdp, type) => process.send!({ sdp, type }))
pc.onLocalCandidate((candidate, mid) => process.send!({ candidate, mid }))
pc.onDataChannel((dc) => {
  channel = dc
  dc.onMessage((m) => channel!.sendMessageBinary(typeof m === 'string' ? Buffer.from(m) : new Uint8Array(m)))
})
process.on('message', (m: { sdp?: string; type?: string; candidate?: string; mid?: string }) => {
  if (m.sdp) pc.setRemoteDescription(m.sdp, m.type as nodeDataChannel.DescriptionType)
  else if (m.candidate) pc.addRemoteCandidate(m.candidate, m.mid!)
})
process.on('disconnect', () => {
  pc.close()
  process.exit(0)
})
