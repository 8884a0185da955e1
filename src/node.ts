/** domainmesh — Node.js entry: everything in the browser entry plus the Node-only parts. */
export * from './index.js'
export { FileStorage } from './storage/files.js'
