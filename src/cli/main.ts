#!/usr/bin/env node
/** The `domainmesh` command. */
import { DomainMeshError } from '../errors.js'
import { CliError } from './args.js'
import { NODE_HELP, nodeCommand } from './node-command.js'
import { TOPOLOGY_HELP, topologyCommand } from './topology-command.js'

const HELP = `domainmesh — replicated, domain-partitioned store over a WebRTC mesh

usage:
  domainmesh topology [flags]   run the topology (signaling) service
  domainmesh node [flags]       run a peer node with file storage
  domainmesh <command> --help   flags of a command

${TOPOLOGY_HELP}
${NODE_HELP}`

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === 'topology') return topologyCommand(rest)
  if (command === 'node') return void (await nodeCommand(rest))
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return void process.stdout.write(HELP)
  throw new CliError(`unknown command "${command}". Commands: topology, node. See 'domainmesh --help'.`)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof DomainMeshError ? err.message : (err as Error)?.stack ?? String(err)
  console.error(`domainmesh: ${message}`)
  process.exit(2)
})
