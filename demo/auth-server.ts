/**
 * The demo's auth endpoint: what an app's own server does for its users (issue 34). It hands a
 * browser tab a short-lived token signed with the app's private key, for the user name the tab
 * asks for: a demo has no login, so any name is taken. A real app checks its user first (session
 * cookie, OAuth) and grants only what that user may do. The private key never leaves this
 * process; the topology service and the members get the public key only.
 *
 *   GET /token?user=NAME  →  { token, subject, expiresAt }
 *
 * Pages are served by vite on another port, so the answer carries CORS headers, for loopback
 * origins only: another web site open in the same browser gets no token.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { exportPKCS8, importPKCS8 } from 'jose'
import type { Access } from '../src/auth/credentials.js'
import { generateClientKeys, issueClientToken } from '../src/auth/issue.js'

export interface AuthServerOptions {
  privateKey: CryptoKey
  clusterId: string
  /** What every demo user may do (default: read-write on the demo's virtual server). */
  access?: Record<string, Access>
  /** Token lifetime in seconds (default 300; clients fetch a fresh one at 80 % of it). */
  ttlS?: number
  /** Default 0: the OS picks one. */
  port?: number
}

export interface AuthServer {
  /** The token route, e.g. http://127.0.0.1:41234/token */
  readonly url: string
  /** Tokens handed out. */
  readonly issued: () => number
  close(): Promise<void>
}

const USER = /^[A-Za-z0-9._@-]{1,64}$/
const LOOPBACK_ORIGIN = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/

export async function startAuthServer(opts: AuthServerOptions): Promise<AuthServer> {
  const access = opts.access ?? { demo: 'read-write' }
  let issued = 0
  const server: Server = createServer((req, res) => {
    const origin = req.headers.origin
    const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' }
    if (origin && LOOPBACK_ORIGIN.test(origin)) headers['access-control-allow-origin'] = origin
    const url = new URL(req.url ?? '/', 'http://auth')
    if (req.method !== 'GET' || url.pathname !== '/token') return void res.writeHead(404, headers).end(JSON.stringify({ error: 'try GET /token?user=NAME' }))
    const asked = url.searchParams.get('user')
    if (asked !== null && !USER.test(asked)) return void res.writeHead(400, headers).end(JSON.stringify({ error: 'user: 1-64 letters, digits, . _ @ -' }))
    const subject = asked ?? `user-${randomBytes(3).toString('hex')}`
    issueClientToken(opts.privateKey, { clusterId: opts.clusterId, subject, access, ttlS: opts.ttlS ?? 300 }).then(
      (token) => {
        issued++
        const expiresAt = (Math.floor(Date.now() / 1000) + (opts.ttlS ?? 300)) * 1000
        res.writeHead(200, headers).end(JSON.stringify({ token, subject, expiresAt }))
      },
      (err: unknown) => res.writeHead(500, headers).end(JSON.stringify({ error: (err as Error).message })),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', resolve)
  })
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/token`,
    issued: () => issued,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}

/**
 * The app's key pair, made once and kept in `dir` like the cluster secret: client-key.pem (the
 * private key, mode 0600, for this endpoint only) and client-key.pub.pem (for the cluster).
 */
export async function demoClientKeys(dir: string): Promise<{ privateKey: CryptoKey; publicKeyPem: string; privateKeyFile: string }> {
  const privateKeyFile = join(dir, 'client-key.pem')
  const publicFile = join(dir, 'client-key.pub.pem')
  try {
    const [priv, pub] = await Promise.all([readFile(privateKeyFile, 'utf8'), readFile(publicFile, 'utf8')])
    return { privateKey: await importPKCS8(priv, 'ES256'), publicKeyPem: pub, privateKeyFile }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const keys = await generateClientKeys()
  await mkdir(dir, { recursive: true })
  await writeFile(privateKeyFile, await exportPKCS8(keys.privateKey), { mode: 0o600 })
  await writeFile(publicFile, keys.publicKeyPem)
  return { privateKey: keys.privateKey, publicKeyPem: keys.publicKeyPem, privateKeyFile }
}
