/** A port someone else holds, said in one line that names the setting to change. */
import { createServer } from 'node:net'
import { DomainMeshError } from '../errors.js'

export class PortInUseError extends DomainMeshError {
  constructor(host: string, port: number, what: string, change: string) {
    super('PORT_IN_USE', `${what}: port ${port} on ${host} is already in use; ${change}`, { host, port })
  }
}

const inUse = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE'

/** Rethrows a listen error for `port` as PortInUseError when that is what it is. */
export function portError(err: unknown, host: string, port: number, what: string, change: string): unknown {
  return inUse(err) ? new PortInUseError(host, port, what, change) : err
}

/**
 * Fails with PortInUseError if `port` cannot be bound now: checked before a process joins a
 * cluster or starts its children, so it stops before it has done anything half-way.
 */
export async function checkPortFree(host: string, port: number, what: string, change: string): Promise<void> {
  if (port === 0) return
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, resolve)
    })
  } catch (err) {
    throw portError(err, host, port, what, change)
  }
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
}
