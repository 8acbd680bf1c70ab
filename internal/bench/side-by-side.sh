#!/usr/bin/env bash
# Measures keeper beside Apache ZooKeeper 3.8 and etcd 3.4 in one run on this
# machine: 100-byte creates at 1, 16 and 64 callers and reads at 16 callers.
# The peers run as 3 members on loopback with fsync on, driven by
# ../shared/peers/zkbench; keeper runs as 3 members in one process over the
# in-memory transport (fsync on), driven by its Go benchmarks.
#
# Needs: apt-get install -y zookeeper zookeeper-bin etcd-server etcd-client jq
# Usage: internal/bench/side-by-side.sh   (from the repository root)
set -uo pipefail  # not -e: the peers' stop helpers return non-zero when a process is already gone
root=$(pwd)
peers=$root/../shared/peers
[ -d "$peers" ] || { echo "no $peers" >&2; exit 1; }
export D=$(mktemp -d)
trap 'stop_all 2>/dev/null; rm -rf "$D"' EXIT
# shellcheck source=/dev/null
source "$peers/clusters.sh"
(cd "$peers/zkbench" && go build -o "$D/zkbench" .) || exit 1
N=${N:-20000}

wait_up() { # $1 = sys, $2 = endpoints
  for _ in $(seq 120); do
    if "$D/zkbench" write -sys "$1" -ep "$2" -c 1 -n 10 -warm 0 -prefix probe$RANDOM >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$1 did not come up" >&2; return 1
}

echo "== ZooKeeper 3.8"
zk_start; wait_up zk "$ZK_EPS" || exit 1
for c in 1 16 64; do "$D/zkbench" write -sys zk -ep "$ZK_EPS" -c $c -n $N -prefix zc$c; done
"$D/zkbench" read -sys zk -ep "$ZK_EPS" -c 16 -n 100000 -prefix zr
zk_stop

echo "== etcd 3.4"
etcd_start; wait_up etcd "$ETCD_EPS" || exit 1
for c in 1 16 64; do "$D/zkbench" write -sys etcd -ep "$ETCD_EPS" -c $c -n $N -prefix ec$c; done
"$D/zkbench" read -sys etcd -ep "$ETCD_EPS" -c 16 -n 100000 -prefix er -serializable
etcd_stop

echo "== keeper"
cd "$root"
go test -run '^$' -bench 'BenchmarkNodeCreate' -benchtime ${N}x .
go test -run '^$' -bench 'BenchmarkNodeGet' -benchtime 1000000x .
