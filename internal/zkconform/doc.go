// Package zkconform holds the conformance harness that drives a ZooKeeper
// service with the real client families ZooKeeper users run: Python's
// kazoo (Lock, Election, watches), the Java command-line client zkCli
// (ZooKeeperMain), Apache Curator's recipes (LeaderLatch,
// InterProcessMutex, DistributedBarrier, CuratorCache) while a member is
// killed and restarted, and the integration tests of go-zookeeper/zk
// v1.0.4 run against servers started by a zkServer.sh stand-in.
//
// The service under test is an Ensemble: client addresses on 127.0.0.1 and
// a way to kill and restart one member. The package's own tests run every
// family against Apache ZooKeeper 3.8 (internal/realzk), which is what makes
// the scripts and the golden outputs trustworthy; a keeper ensemble is
// driven by passing its addresses and its kill/restart hook instead.
//
// Every process the harness starts (python3, java, go test and what they
// start) runs in a process group of its own and is killed by that group's
// id when it has finished or when its test ends, whether or not it passed.
//
// The client families come from Debian packages: python3-kazoo (for
// /usr/bin/python3), the zookeeper package's jars, libcurator-*-java and a
// JDK (javac). When one is missing its family is skipped, except when the
// environment has CI=true: then it fails, so that CI cannot skip silently.
//
// # Driving a keeper ensemble
//
// An Ensemble over keeper members (examples/server processes serving the
// ZooKeeper protocol on -zk 127.0.0.1:PORT) needs: Addrs, the members'
// -zk addresses; Kill, SIGKILL to the member's process id and a wait for
// its exit; Restart, the same command line again (same -id, -dir, -peers,
// -zk) and a wait until the address answers (ruok, then a session that can
// read); and, to have RunCurator kill the leader rather than member 0,
// Leader (see Leaderer). Its processes must be stopped at the end of the
// test, by process id, passed or failed. RunGoZookeeper needs no Ensemble:
// the tests start their own servers, through the zkServer.sh stand-in,
// from a built examples/server binary (GoZookeeperOptions.ServerBin); the
// stand-in's comment states the flags it passes.
//
// What the families ask of the service beyond plain reads and writes:
// sequential, ephemeral, container and TTL znodes (zkCli's create -c and
// -t, Curator's creatingParentContainersIfNeeded), multi (zkCli's
// deleteall), getAllChildrenNumber, sync, digest and ip ACLs and the auth
// scheme, removeWatches (Curator's LeaderLatch on close), persistent
// recursive watches (Curator 5's CuratorCache, addWatch), the four-letter
// words ruok and srvr, session timeouts of 10 to 15 seconds, and a znode
// created with no data read back as null, not as empty data (zkCli prints
// "null").
//
// Short runs (the default) keep each family to seconds; the long ones run
// when the test binary is given -short=false and the environment has
// KEEPER_CONFORM_LONG=1 (see Long).
package zkconform
