/** The part of @thaunknown/simple-peer (lite: data channels only) that domainmesh uses. */
declare module '@thaunknown/simple-peer/lite.js' {
  interface PeerOptions {
    initiator?: boolean
    trickle?: boolean
    config?: Record<string, unknown>
    channelConfig?: Record<string, unknown>
  }
  export default class Peer {
    constructor(opts?: PeerOptions)
    readonly bufferSize: number
    readonly connected: boolean
    signal(data: unknown): void
    send(chunk: Uint8Array): void
    destroy(err?: Error): void
    on(event: 'signal', listener: (data: unknown) => void): this
    on(event: 'connect' | 'close', listener: () => void): this
    on(event: 'data', listener: (data: Uint8Array) => void): this
    on(event: 'error', listener: (err: Error) => void): this
  }
}
