/** Flag parsing for the CLI, on node:util's parseArgs, with errors that name the flag. */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { DomainMeshError } from '../errors.js'
import { MIN_SECRET_LENGTH } from '../topology/auth.js'

export class CliError extends DomainMeshError {
  constructor(message: string) {
    super('CLI', message)
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

export function parseFlags<O extends Options>(argv: string[], options: O, command: string): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>
  } catch (err) {
    throw new CliError(`${command}: ${(err as Error).message.replace(/\. To specify.*$/, '')}. See 'domainmesh ${command} --help'.`)
  }
}

export function intFlag(values: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`--${name} must be a whole number from ${min} to ${max}, not "${String(raw)}"`)
  return n
}

export function stringFlag(values: Record<string, unknown>, name: string, fallback?: string): string {
  const raw = values[name] ?? fallback
  if (typeof raw !== 'string' || raw.length === 0) throw new CliError(`--${name} is required`)
  return raw
}

/** The cluster secret: --secret, else DOMAINMESH_SECRET. Never printed. */
export function secretFlag(values: Record<string, unknown>): string {
  const s = (values.secret as string | undefined) ?? process.env.DOMAINMESH_SECRET
  if (!s) throw new CliError('a cluster secret is required: --secret or the DOMAINMESH_SECRET environment variable')
  if (s.length < MIN_SECRET_LENGTH) throw new CliError(`the cluster secret must be at least ${MIN_SECRET_LENGTH} characters`)
  return s
}

/**
 * `--client-key FILE` (or DOMAINMESH_CLIENT_KEY, the PEM itself): the public key (PEM, SPKI) the
 * app's auth endpoint signs client tokens with; `--member-key FILE` (DOMAINMESH_MEMBER_KEY) the
 * one member tokens are signed with. Undefined when neither is given.
 */
export async function clientKeyFlag(values: Record<string, unknown>, flag: 'client-key' | 'member-key' = 'client-key'): Promise<{ publicKey: string } | undefined> {
  const file = values[flag] as string | undefined
  let pem = process.env[flag === 'client-key' ? 'DOMAINMESH_CLIENT_KEY' : 'DOMAINMESH_MEMBER_KEY']
  if (file !== undefined) {
    const { readFile } = await import('node:fs/promises')
    try {
      pem = await readFile(file, 'utf8')
    } catch (err) {
      throw new CliError(`--${flag} ${file}: ${(err as Error).message}`)
    }
  }
  if (pem === undefined || pem.trim() === '') return undefined
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new CliError(`the --${flag} must be a public key in PEM (SPKI: "-----BEGIN PUBLIC KEY-----"), never the private key`)
  return { publicKey: pem }
}

/** Runs `stop` once on SIGINT or SIGTERM, then exits. A second signal exits at once. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: string) => {
    if (stopping) process.exit(130)
    stopping = true
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`error while stopping on ${signal}:`, err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => handler('SIGINT'))
  process.on('SIGTERM', () => handler('SIGTERM'))
}
