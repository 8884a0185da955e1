#!/usr/bin/env node
/** The `domainmesh` command. */
import { readFileSync } from 'node:fs'
import { DomainMeshError } from '../errors.js'
import { CliError } from './args.js'
import { NODE_HELP, nodeCommand } from './node-command.js'
import { TOPOLOGY_HELP, topologyCommand } from './topology-command.js'

const HELP = `domainmesh — replicated, domain-partitioned store over a WebRTC mesh

usage:
  domainmesh topology [flags]   run the topology (signaling) service
  domainmesh node [flags]       run a peer node with file storage
  domainmesh <command> --help   flags of a command
  domainmesh --version          the package version

${TOPOLOGY_HELP}
${NODE_HELP}`

/** The version in the package.json next to dist/ (or src/, run through tsx). */
export const packageVersion = (): string => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === 'topology') return topologyCommand(rest)
  if (command === 'node') return void (await nodeCommand(rest))
  if (command === '--help' || command === '-h' || command === 'help') return void process.stdout.write(HELP)
  if (command === '--version' || command === '-v' || command === 'version') return void process.stdout.write(`${packageVersion()}\n`)
  // No command is a mistake (as with git or npm): the help goes to stderr and the exit code says so.
  if (command === undefined) {
    process.stderr.write(HELP)
    return void (process.exitCode = 2)
  }
  throw new CliError(`unknown command "${command}". Commands: topology, node. See 'domainmesh --help'.`)
}

/**
 * One line for what an operator can fix (our errors, and the system's: a folder that cannot be
 * written, an address that cannot be bound); the stack only for anything else, which is a bug,
 * or with --verbose.
 */
function errorLine(err: unknown, verbose: boolean): string {
  const known = err instanceof DomainMeshError || typeof (err as NodeJS.ErrnoException)?.code === 'string'
  const message = known && !verbose ? (err as Error).message : ((err as Error)?.stack ?? String(err))
  return `domainmesh: ${message}`
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(errorLine(err, process.argv.includes('--verbose')))
  process.exit(2)
})
