#!/usr/bin/env bash
# zkServer.sh stand-in for the integration tests of go-zookeeper/zk v1.0.4.
#
# Those tests write a zoo.cfg per server (dataDir, clientPort, tickTime,
# initLimit, syncLimit, and for an ensemble server.N=127.0.0.1:PEER:ELECTION
# lines), a myid file in its dataDir, and run
#
#   $ZOOKEEPER_BIN_PATH/zkServer.sh start-foreground ZOO_CFG
#
# with SERVER_JVMFLAGS naming a super user's digest and enabling TTL znodes
# (-Dzookeeper.DigestAuthenticationProvider.superDigest=...,
# -Dzookeeper.extendedTypesEnabled=true, -Dzookeeper.emulate353TTLNodes=true).
# They stop a server by killing this script's process (SIGKILL), so the
# server is exec'd: it is that process.
#
# Without KEEPER_ZK_SERVER_BIN this starts Apache ZooKeeper (Debian's jar)
# on that config, bound to 127.0.0.1. With it, it starts a keeper member
# instead, as documented at the keeper branch below.
set -euo pipefail

if [ "${1:-}" != start-foreground ] || [ -z "${2:-}" ]; then
  echo "usage: $0 start-foreground ZOO_CFG" >&2
  exit 2
fi
cfg=$2

# value KEY: the value of KEY= in the config, empty if absent.
value() { sed -n "s/^$1=//p" "$cfg" | tail -n 1; }

data_dir=$(value dataDir)
client_port=$(value clientPort)
tick_ms=$(value tickTime)
if [ -z "$data_dir" ] || [ -z "$client_port" ]; then
  echo "zkServer.sh: $cfg has no dataDir or clientPort" >&2
  exit 2
fi
myid=1
if [ -f "$data_dir/myid" ]; then
  myid=$(tr -d '[:space:]' < "$data_dir/myid")
fi

# The super user's digest, "super:base64(sha1(super:password))", if set.
super_digest=$(printf '%s\n' "${SERVER_JVMFLAGS:-}" | tr ' ' '\n' |
  sed -n 's/^-Dzookeeper\.DigestAuthenticationProvider\.superDigest=//p' | tail -n 1)

# The server is exec'd through setpriv, when there is one, so that it also
# dies with the test process that started it (parent-death signal) should
# that process die without stopping it.
pdeath=()
if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
  pdeath=(setpriv --pdeathsig KILL --)
fi

if [ -n "${KEEPER_ZK_SERVER_BIN:-}" ]; then
  # ---------------------------------------------------------------- keeper
  # Contract for keeper's examples/server binary (KEEPER_ZK_SERVER_BIN):
  #
  #   $KEEPER_ZK_SERVER_BIN -id N -dir DATADIR/keeper -cluster-id 7
  #       -certs CERTS -peers 1=127.0.0.1:P1,2=127.0.0.1:P2,...
  #       -zk 127.0.0.1:CLIENTPORT -zk-4lw "*" -log-level warn
  #       [-min-session-timeout 2*TICKTIMEms -max-session-timeout 20*TICKTIMEms]
  #       [-super-digest super:DIGEST]
  #
  # - -id, -dir, -cluster-id, -certs, -peers, -min-session-timeout and
  #   -log-level are flags examples/server has (the smallest session
  #   timeout is ZooKeeper's default, two ticks of the config's tickTime); -zk is the ZooKeeper client address it
  #   serves the wire protocol on, and -super-digest names the user (as
  #   zookeeper.DigestAuthenticationProvider.superDigest does) that every
  #   ACL allows everything; it is passed only when the tests set one.
  # - Peers are the server.N lines' PEER ports; a single server (no
  #   server.N lines) is member 1 with peer port CLIENTPORT+1, the port
  #   go-zookeeper's tests leave for it.
  # - TTL and container znodes are always on (the tests enable them).
  # - CERTS is one directory per test cluster, beside the members' data
  #   dirs, minted once with `-init CERTS -cluster-id 7 -members IDS` by
  #   whichever member starts first.
  # - The member must serve on -zk until killed (SIGKILL, as the tests stop
  #   servers), answer the four-letter words ruok and srvr there (the tests
  #   poll srvr until every server answers, and ruok until none does), and
  #   come back with its data when started again with the same flags.
  peers=$(sed -n 's/^server\.\([0-9]*\)=\([^:]*\):\([0-9]*\):.*/\1=\2:\3/p' "$cfg" | paste -sd, -)
  ids=$(sed -n 's/^server\.\([0-9]*\)=.*/\1/p' "$cfg" | paste -sd, -)
  if [ -z "$peers" ]; then
    peers="1=127.0.0.1:$((client_port + 1))"
    ids=1
  fi
  parent=$(dirname "$data_dir")
  certs="$parent/keeper-certs"
  (
    flock 9
    if [ ! -f "$certs/ca.pem" ]; then
      "$KEEPER_ZK_SERVER_BIN" -init "$certs" -cluster-id 7 -members "$ids" >&2
    fi
  ) 9> "$parent/keeper-certs.lock"
  args=(-id "$myid" -dir "$data_dir/keeper" -cluster-id 7 -certs "$certs"
    -peers "$peers" -zk "127.0.0.1:$client_port" -zk-4lw "*" -log-level "${KEEPER_ZK_LOG_LEVEL:-warn}")
  if [ -n "$tick_ms" ]; then
    # ZooKeeper grants sessions of 2 to 20 ticks; the tests ask for some
    # as short as that allows.
    args+=(-min-session-timeout "$((2 * tick_ms))ms" -max-session-timeout "$((20 * tick_ms))ms")
  fi
  if [ -n "$super_digest" ]; then
    args+=(-super-digest "$super_digest")
  fi
  exec "${pdeath[@]}" "$KEEPER_ZK_SERVER_BIN" "${args[@]}"
fi

# ------------------------------------------------------- Apache ZooKeeper
# The tests' config, bound to the loopback address; QuorumPeerMain runs a
# standalone server when there are no server.N lines.
real_cfg="$data_dir/zoo-real.cfg"
{
  grep -v '^clientPortAddress=' "$cfg"
  echo "clientPortAddress=127.0.0.1"
} > "$real_cfg"
# SERVER_JVMFLAGS is split on spaces on purpose: it holds several flags.
# shellcheck disable=SC2086
exec "${pdeath[@]}" java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dzookeeper.forceSync=no \
  -Dzookeeper.jmx.log4j.disable=true \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  ${SERVER_JVMFLAGS:-} \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$real_cfg"
