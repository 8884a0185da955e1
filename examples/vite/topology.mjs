// The topology (signaling) service the tabs join through: `npm run topology`, then open the app
// in two tabs. Prints its URL as the first line.
import { startTopologyServer } from 'domainmesh'

const server = await startTopologyServer({ clusterId: 'example', secret: 'example-secret', port: Number(process.env.PORT ?? 7700), settings: { domainCount: 16, replicas: 2 } })
console.log(server.url)
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)))
process.on('SIGINT', () => void server.close().then(() => process.exit(0)))
