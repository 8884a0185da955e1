/**
 * A WebSocket client that writes raw frames: the upgrade handshake by hand on a TCP socket, then
 * whatever bytes a test wants, including frames a WebSocket library would never send.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export interface RawWebSocket {
  socket: Socket
  /** Bytes received after the handshake (frames from the server). */
  received(): Buffer
  /** Resolves when the server has closed the TCP connection. */
  closed: Promise<void>
  write(bytes: Buffer): void
  destroy(): void
}

/** Opens `ws://host:port/` and completes the upgrade handshake. */
export async function rawWebSocket(url: string): Promise<RawWebSocket> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  let buffered = Buffer.alloc(0)
  let upgraded = false
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {}) // a reset after the server drops us is expected; `closed` reports it
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.write(
        [`GET / HTTP/1.1`, `Host: ${hostname}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', '', ''].join('\r\n'),
      )
    })
    socket.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d])
      if (upgraded) return
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buffered.subarray(0, end).toString()
      buffered = buffered.subarray(end + 4)
      upgraded = true
      if (/^HTTP\/1\.1 101 /.test(head)) resolve()
      else reject(new Error(`upgrade refused: ${head}`))
    })
    socket.once('close', () => reject(new Error('closed during the upgrade')))
  })
  return { socket, received: () => buffered, closed, write: (b) => void socket.write(b), destroy: () => socket.destroy() }
}

export interface FrameOptions {
  opcode: number
  payload?: Buffer | string
  fin?: boolean
  /** Reserved bits (0-7) in the first byte: set without a negotiated extension, they break the protocol. */
  rsv?: number
  /** Clients must mask; false builds a frame a server has to refuse. */
  mask?: boolean
}

/** One WebSocket frame, as a client would send it. */
export function frame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true }: FrameOptions): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)]
  const m = mask ? 0x80 : 0
  if (data.length < 126) head.push(m | data.length)
  else if (data.length < 65536) head.push(m | 126, data.length >> 8, data.length & 0xff)
  else {
    const len = Buffer.alloc(8)
    len.writeBigUInt64BE(BigInt(data.length))
    head.push(m | 127, ...len)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data])
  const key = randomBytes(4)
  const masked = Buffer.from(data.map((b, i) => b ^ key[i % 4]!))
  return Buffer.concat([Buffer.from(head), key, masked])
}
