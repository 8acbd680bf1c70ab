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
// Short runs (the default) keep each family to seconds; the long ones run
// when the test binary is given -short=false and the environment has
// KEEPER_CONFORM_LONG=1 (see Long).
package zkconform
