/**
 * The named errors of topology instances over etcd, apart from etcd-topology.ts so that the Node
 * entry can export them without loading the etcd client (an optional peer dependency).
 */
import { DomainMeshError } from '../errors.js'

/**
 * The etcd client (npm `etcd3`, with `cockatiel`) is an optional peer dependency: an app that
 * only runs the embedded service or ships to browsers does not install gRPC. Missing, `--etcd`
 * says what to install instead of failing on a module path.
 */
export class EtcdClientMissingError extends DomainMeshError {
  constructor(cause: unknown) {
    super('ETCD_CLIENT_MISSING', `the topology state in etcd needs the etcd client: npm install etcd3 cockatiel (${cause instanceof Error ? cause.message : String(cause)})`)
    this.cause = cause
  }
}

/** This instance was started with another secret, other settings or other timings than the cluster in etcd. */
export class EtcdConfigMismatchError extends DomainMeshError {
  constructor(why: string) {
    super('ETCD_CONFIG_MISMATCH', `this topology instance does not match the cluster in etcd: ${why}; start it with the same secret and options as the others`)
  }
}
