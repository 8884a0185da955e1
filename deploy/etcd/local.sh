#!/usr/bin/env bash
# Three etcd members and two topology instances on this machine (127.0.0.1), for trying it out:
#   deploy/etcd/local.sh            then, in other terminals, nodes listing both instances:
#   DOMAINMESH_SECRET=change-me node --import tsx src/cli/main.ts node \
#     --topology ws://127.0.0.1:7700,ws://127.0.0.1:7701 --data .data/n1 --node-id n1
# Ctrl-C stops what it started. Data: $DATA (default .data/etcd-demo). Needs etcd (Debian: etcd-server).
# From an installed package: DOMAINMESH=domainmesh deploy/etcd/local.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-.data/etcd-demo}
ETCD=${ETCD:-etcd}
# The CLI itself (not through npx), so that the pids below are the processes to stop.
DOMAINMESH=${DOMAINMESH:-node --import tsx src/cli/main.ts}
export DOMAINMESH_SECRET=${DOMAINMESH_SECRET:-change-me}
command -v "${ETCD%% *}" >/dev/null || { echo "etcd not found ($ETCD): install it (Debian: apt install etcd-server) or set ETCD=/path/to/etcd" >&2; exit 1; }
mkdir -p "$DATA"
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; }
trap stop EXIT INT TERM

cluster="m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
for i in 1 2 3; do
  state=new; [[ -d "$DATA/m$i/member" ]] && state=existing
  "$ETCD" --name "m$i" --data-dir "$DATA/m$i" \
    --listen-client-urls "http://127.0.0.1:${i}2379" --advertise-client-urls "http://127.0.0.1:${i}2379" \
    --listen-peer-urls "http://127.0.0.1:${i}2380" --initial-advertise-peer-urls "http://127.0.0.1:${i}2380" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token domainmesh-demo \
    --log-level warn >"$DATA/m$i.log" 2>&1 &
  pids+=($!)
done
# A member that cannot start (a port in use, a data folder of another cluster) would otherwise
# only show as instances that cannot reach etcd: say which one, with the end of its log.
sleep 1
for i in 1 2 3; do
  if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
    echo "etcd member m$i did not start; the end of $DATA/m$i.log:" >&2
    tail -n 20 "$DATA/m$i.log" >&2
    exit 1
  fi
done
endpoints="http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379"
instances=()
for port in 7700 7701; do
  $DOMAINMESH topology --port "$port" --cluster demo --etcd "$endpoints" &
  pids+=($!); instances+=($!)
done
echo "etcd: $endpoints (logs in $DATA); topology instances: ws://127.0.0.1:7700 (pid ${instances[0]}) and ws://127.0.0.1:7701 (pid ${instances[1]})"
echo "try: kill -9 ${instances[0]}   (its nodes move to the other instance; the others go on)"
# Until Ctrl-C: a process killed on purpose does not end the others.
wait
