// Runs before vitest: the tests of topology instances over etcd start a real etcd cluster, so
// without etcd they cannot run; say how to get it.
import { accessSync, constants } from 'node:fs'

const path = process.env.DOMAINMESH_ETCD ?? '/usr/bin/etcd'
try {
  accessSync(path, constants.X_OK)
} catch {
  console.error(`The tests of topology instances over etcd need etcd at ${path}, and it is not there.
Install Debian's package:
    sudo apt-get update && sudo apt-get install -y etcd-server
or point DOMAINMESH_ETCD at another etcd (3.4 or later) binary. (.ci/run installs it for CI.)`)
  process.exit(1)
}
