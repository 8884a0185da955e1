// The cluster side of the client example, in one process: a topology service, two Node members
// and the app's auth endpoint (GET /token?user=NAME answers a 10-minute token). In production the
// auth endpoint is your app's server, which signs in its users its own way first. Prints the
// topology URL, then the auth endpoint's. WebRTC binds to loopback: the tabs are on this machine.
import { createServer } from 'node:http'
import { MeshNode, FileStorage, WebRtcTransport, generateClientKeys, issueClientToken, serveClients, startTopologyServer, clusterId, nodeId } from 'domainmesh'

const secret = process.env.DOMAINMESH_SECRET ?? 'example-secret'
const keys = await generateClientKeys()
const topo = await startTopologyServer({ clusterId: 'example', secret, port: Number(process.env.PORT ?? 7700), settings: { domainCount: 16, replicas: 2 }, clientAuth: { publicKey: keys.publicKeyPem } })
const members = []
for (const name of ['m1', 'm2']) {
  members.push(await new MeshNode({ clusterId: clusterId('example'), nodeId: nodeId(name), transport: new WebRtcTransport({ rtcConfig: { bindAddress: '127.0.0.1' } }), storage: await FileStorage.open(`.data/${name}`), topology: { urls: [topo.url], secret }, clients: serveClients({ publicKey: keys.publicKeyPem }) }).start())
}
const auth = createServer(async (req, res) => {
  const user = new URL(req.url, 'http://x').searchParams.get('user') ?? 'guest'
  res.setHeader('access-control-allow-origin', '*')
  res.end(await issueClientToken(keys.privateKey, { clusterId: 'example', subject: user, access: { notes: 'read-write' }, ttlS: 600 }))
})
await new Promise((resolve) => auth.listen(Number(process.env.AUTH_PORT ?? 7701), '127.0.0.1', resolve))
console.log(topo.url)
console.log(`http://127.0.0.1:${auth.address().port}/token`)
const stop = async () => {
  auth.close()
  for (const m of members) await m.close()
  await topo.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
