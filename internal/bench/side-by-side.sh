#!/usr/bin/env bash
# Measures keeper beside Apache ZooKeeper 3.8 and etcd 3.4 in one run on this
# machine: 100-byte creates at 1, 16 and 64 callers and reads at 16 callers.
# The peers run as 3 members on loopback with fsync on, driven by
# ../shared/peers/zkbench; keeper runs twice: as 3 members in one process
# over the in-memory transport (its Go benchmarks), and as 3 OS processes of
# examples/server over transport.TCP with mutual TLS on loopback, each with
# its own data dir, driven through the members' admin load endpoints (the
# callers run inside the member processes, as a host service's would, and
# are spread over the three members as zkbench spreads its callers over the
# servers). Then, across processes: the leader process killed to the next
# acknowledged write (p50 over KILLS kills), and the catch-up of a member
# CATCHUP znodes behind by a raft snapshot over TCP beside the same over the
# in-memory transport, both at the default SnapshotRate (CATCHUP=0 skips it).
# And keeper over ZooKeeper's own protocol ("keeper-zk"): the same three
# processes with -zk, driven by zkbench exactly as it drives ZooKeeper
# (creates at 1, 16 and 64 callers, reads at 16, and the leader killed to
# the next acknowledged write, KILLS times), beside ZooKeeper's own
# failover in the "zk" part.
#
# Needs: apt-get install -y zookeeper zookeeper-bin etcd-server etcd-client jq curl
# Usage: internal/bench/side-by-side.sh   (from the repository root)
#        SYSTEMS="keeper-tcp" CATCHUP=100000 KILLS=5 internal/bench/side-by-side.sh   (a part of it)
set -uo pipefail  # not -e: the peers' stop helpers return non-zero when a process is already gone
root=$(pwd)
peers=${PEERS:-$root/../shared/peers}
[ -d "$peers" ] || { echo "no $peers" >&2; exit 1; }
export D=$(mktemp -d)
trap 'stop_all 2>/dev/null; keeper_stop 2>/dev/null; rm -rf "$D"' EXIT
# shellcheck source=/dev/null
source "$peers/clusters.sh"
(cd "$peers/zkbench" && go build -o "$D/zkbench" .) || exit 1
N=${N:-20000}
KILLS=${KILLS:-10}
CATCHUP=${CATCHUP:-1000000}
SYSTEMS=${SYSTEMS:-"zk etcd keeper keeper-tcp keeper-zk catchup"} # a subset runs only those parts
want() { [[ " $SYSTEMS " == *" $1 "* ]]; }
(cd "$root" && go build -o "$D/keeper-server" ./examples/server) || exit 1

# keeper as 3 processes of examples/server: peers on 24001-24003, admin on
# 24101-24103, ZooKeeper's protocol (keeper-zk) on 24201-24203.
K=$D/keeper
KEEPER_PEERS=1=127.0.0.1:24001,2=127.0.0.1:24002,3=127.0.0.1:24003
KEEPER_ZK_EPS=127.0.0.1:24201,127.0.0.1:24202,127.0.0.1:24203
KEEPER_ZK=""  # non-empty: the members serve ZooKeeper's protocol too
keeper_start1() { # $1 = member id
  local i=$1 zk=()
  [ -n "$KEEPER_ZK" ] && zk=(-zk 127.0.0.1:2420$i -zk-4lw srvr)
  nohup "$D/keeper-server" -id $i -dir "$K/data$i" -cluster-id 7 -certs "$K/certs" \
    -peers $KEEPER_PEERS -admin 127.0.0.1:2410$i -log-level warn "${zk[@]}" >> "$K/m$i.log" 2>&1 < /dev/null &
  echo $! > "$K/pid$i"
}
keeper_start() {
  mkdir -p "$K"
  [ -d "$K/certs" ] || "$D/keeper-server" -init "$K/certs" -cluster-id 7 -members 1,2,3 2>/dev/null || return 1
  for i in 1 2 3; do keeper_start1 $i; done
}
keeper_pids() { local p=""; for i in 1 2 3; do p="$p${p:+,}127.0.0.1:2420$i=$(cat "$K/pid$i")"; done; echo $p; }
keeper_revive() { # restart members whose process died (after a failover kill)
  for i in 1 2 3; do alive $(cat "$K/pid$i") || keeper_start1 $i; done
}
keeper_stop() {
  for i in 1 2 3; do
    [ -f "$K/pid$i" ] || continue
    local p=$(cat "$K/pid$i")
    kill $p 2>/dev/null   # SIGTERM: the member closes cleanly
    for _ in $(seq 100); do alive $p || break; sleep 0.1; done
    kill -9 $p 2>/dev/null
    rm -f "$K/pid$i"
  done
}
keeper_up() { # every member knows a leader
  for _ in $(seq 120); do
    local ok=0
    for i in 1 2 3; do
      [ "$(curl -sf http://127.0.0.1:2410$i/status | jq -r '.Leader' 2>/dev/null)" -gt 0 ] 2>/dev/null && ok=$((ok + 1))
    done
    [ $ok -eq 3 ] && return 0
    sleep 0.5
  done
  echo "keeper did not come up" >&2; return 1
}
# kload OP CALLERS N [QUERY]: runs the load endpoint OP on min(CALLERS, 3)
# members at once, callers, operations and the 1000 warm-up operations split
# between them; prints one JSON line like zkbench's (ops_s = all operations /
# the longest member's wall time; p50/p99 are the worst member's).
kload() {
  local op=$1 c=$2 n=$3 q=${4:-} m=3 pids=()
  [ $c -lt 3 ] && m=$c
  for i in $(seq $m); do
    local ci=$(( c / m + (i <= c % m ? 1 : 0) )) ni=$(( n / m + (i <= n % m ? 1 : 0) ))
    curl -sf -X POST "http://127.0.0.1:2410$i/load/$op?callers=$ci&n=$ni&warm=$((1000 / m))$q" > "$K/load$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  jq -s -c --argjson c $c '{sys: "keeper-tcp", op: .[0].op, conc: $c, ops: (map(.ops) | add), errors: (map(.errors) | add),
    wall_s: (map(.wall_s) | max), ops_s: ((map(.ops) | add) / (map(.wall_s) | max) * 10 | round / 10),
    p50_ms: (map(.p50_ms) | max), p99_ms: (map(.p99_ms) | max), members: length}' $(seq -f "$K/load%g.json" $m)
}

wait_up() { # $1 = sys, $2 = endpoints
  for _ in $(seq 120); do
    if "$D/zkbench" write -sys "$1" -ep "$2" -c 1 -n 10 -warm 0 -prefix probe$RANDOM >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$1 did not come up" >&2; return 1
}

want zk && {
  echo "== ZooKeeper 3.8"
  zk_start; wait_up zk "$ZK_EPS" || exit 1
  for c in 1 16 64; do "$D/zkbench" write -sys zk -ep "$ZK_EPS" -c $c -n $N -prefix zc$c; done
  "$D/zkbench" read -sys zk -ep "$ZK_EPS" -c 16 -n 100000 -prefix zr
  echo "== ZooKeeper 3.8: leader killed -> next acknowledged write ($KILLS kills)"
  for _ in $(seq $KILLS); do
    "$D/zkbench" failover -sys zk -ep "$ZK_EPS" -pids "$(zk_pids)"
    zk_revive; wait_up zk "$ZK_EPS" || exit 1
  done
  zk_stop
}

want etcd && {
  echo "== etcd 3.4"
  etcd_start; wait_up etcd "$ETCD_EPS" || exit 1
  for c in 1 16 64; do "$D/zkbench" write -sys etcd -ep "$ETCD_EPS" -c $c -n $N -prefix ec$c; done
  "$D/zkbench" read -sys etcd -ep "$ETCD_EPS" -c 16 -n 100000 -prefix er -serializable
  etcd_stop
}

cd "$root"
want keeper && {
  echo "== keeper, 3 members in one process over the in-memory transport"
  go test -run '^$' -bench 'BenchmarkNodeCreate' -benchtime ${N}x .
  go test -run '^$' -bench 'BenchmarkNodeGet' -benchtime 1000000x .
}

want keeper-tcp && {
  echo "== keeper, 3 processes of examples/server over TCP+TLS"
  keeper_start || exit 1
  keeper_up || exit 1
  for c in 1 16 64; do kload create $c $N "&size=100"; done
  kload get 16 1000000
  keeper_stop

  echo "== keeper, 3 processes over TCP+TLS: leader killed -> next acknowledged write ($KILLS kills)"
  go test -run '^$' -bench BenchmarkProcessFailover -benchtime ${KILLS}x ./examples/server
}

want keeper-zk && {
  echo "== keeper, 3 processes over TCP+TLS, clients over ZooKeeper's protocol (-zk)"
  rm -rf "$K"
  KEEPER_ZK=1
  keeper_start || exit 1
  keeper_up || exit 1
  wait_up zk "$KEEPER_ZK_EPS" || exit 1
  for c in 1 16 64; do "$D/zkbench" write -sys zk -ep "$KEEPER_ZK_EPS" -c $c -n $N -prefix kc$c; done
  "$D/zkbench" read -sys zk -ep "$KEEPER_ZK_EPS" -c 16 -n 100000 -prefix kr
  echo "== keeper over ZooKeeper's protocol: leader killed -> next acknowledged write ($KILLS kills)"
  for _ in $(seq $KILLS); do
    "$D/zkbench" failover -sys zk -ep "$KEEPER_ZK_EPS" -pids "$(keeper_pids)"
    keeper_revive
    keeper_up || exit 1
    wait_up zk "$KEEPER_ZK_EPS" || exit 1
  done
  keeper_stop
  KEEPER_ZK=""
}

if want catchup && [ "$CATCHUP" -gt 0 ]; then
  echo "== keeper: catch-up of a member $CATCHUP znodes behind, over TCP+TLS (processes), then over the in-memory transport"
  KEEPER_BENCH_CATCHUP_ZNODES=$CATCHUP go test -run '^$' -bench BenchmarkProcessCatchUp -benchtime 1x -timeout 60m ./examples/server
  KEEPER_BENCH_CATCHUP_ZNODES=$CATCHUP go test -run '^$' -bench BenchmarkSnapshotCatchUp -benchtime 1x -timeout 60m .
fi
