/**
 * A fault-test peer: `domainmesh node` (files on disk, a durable member) plus writers driven over
 * stdin (driver.ts). Each writer owns its keys (writer.ts) and writes one change at a time.
 */
import { nodeCommand } from '../../src/cli/node-command.js'
import { drive } from './driver.js'

const node = await nodeCommand(process.argv.slice(3))
if (!node) process.exit(0)
drive(node, () => node.close())
