"""Helpers shared by the kazoo conformance scripts.

Each script is run as `python3 SCRIPT HOSTS [--long]`, HOSTS being a
ZooKeeper connection string ("127.0.0.1:2181,127.0.0.1:2182"). It prints one
"ok: ..." line per property it checked and one "FAIL: ..." line per
violation, and exits 1 when there was any violation.
"""

import os
import sys
import threading
import time

from kazoo.client import KazooClient

# How long any single wait may take before it counts as a failure.
DEADLINE = 30.0


def args():
    """Returns (hosts, long) from the command line."""
    if len(sys.argv) < 2:
        sys.exit("usage: %s HOSTS [--long]" % sys.argv[0])
    return sys.argv[1], "--long" in sys.argv[2:]


def connect(hosts):
    """Returns a started client with a fresh session."""
    c = KazooClient(hosts=hosts, timeout=15.0)
    c.start(timeout=DEADLINE)
    return c


def close(c):
    """Stops and closes a client, ignoring a connection already gone."""
    try:
        c.stop()
    finally:
        c.close()


class Checker:
    """Collects the outcome of each check of one script."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.mu = threading.Lock()

    def ok(self, what):
        print("ok: %s: %s" % (self.name, what), flush=True)

    def fail(self, what):
        with self.mu:
            self.failures.append(what)
        print("FAIL: %s: %s" % (self.name, what), flush=True)

    def check(self, cond, what):
        if cond:
            self.ok(what)
        else:
            self.fail(what)
        return cond

    def exit(self):
        if self.failures:
            print("%s: %d failure(s)" % (self.name, len(self.failures)), flush=True)
            sys.exit(1)
        print("%s: all checks passed" % self.name, flush=True)
        sys.exit(0)


def base_path(prefix):
    """A path no other run uses, so that scripts can share a server."""
    return "/%s-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000))


def wait_until(cond, timeout=DEADLINE, interval=0.01):
    """Polls cond until it is true or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def run_threads(chk, targets):
    """Runs each callable on its own thread, records an exception raised by
    any of them as a failure, and waits for all."""

    def wrap(i, f):
        try:
            f()
        except Exception as e:  # reported, not swallowed
            chk.fail("thread %d raised %r" % (i, e))

    threads = [threading.Thread(target=wrap, args=(i, f), daemon=True) for i, f in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 10)
        if t.is_alive():
            chk.fail("a thread did not finish")
