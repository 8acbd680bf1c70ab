"""Watches, through kazoo: DataWatch and ChildrenWatch see every change of a
znode in order when each change waits to be seen before the next is made,
and see a monotonic history ending at the last change when changes are made
back to back; and a client that watches a znode gets the watch event before
a read of its own returns the new data (the Programmer's Guide: "a client
will see a watch event for a znode it is watching before seeing the new data
that corresponds to that znode")."""

import threading

from kazoo.protocol.states import Callback

from conformlib import DEADLINE, Checker, args, base_path, close, connect, wait_until


def main():
    hosts, long = args()
    changes = 200 if long else 30
    chk = Checker("watch")
    print("watch: %d changes per check" % changes, flush=True)
    watcher = connect(hosts)
    writer = connect(hosts)
    base = base_path("kazoo-watch")
    writer.ensure_path(base)

    data_watch(chk, watcher, writer, base + "/data", changes)
    data_watch_burst(chk, watcher, writer, base + "/burst", changes)
    children_watch(chk, watcher, writer, base + "/children", changes)
    event_before_data(chk, watcher, writer, base + "/order", changes)

    writer.delete(base, recursive=True)
    close(watcher)
    close(writer)
    chk.exit()


class Seen:
    """What a watch callback saw, in order, with a way to wait for a value."""

    def __init__(self):
        self.cond = threading.Condition()
        self.values = []

    def add(self, v):
        with self.cond:
            self.values.append(v)
            self.cond.notify_all()

    def wait_last(self, v):
        with self.cond:
            return self.cond.wait_for(lambda: self.values and self.values[-1] == v, DEADLINE)

    def snapshot(self):
        with self.cond:
            return list(self.values)


def data_watch(chk, watcher, writer, path, changes):
    seen = Seen()
    watcher.DataWatch(path, lambda data, stat: seen.add(None if data is None else data.decode()))
    want = [None]
    ok = seen.wait_last(None)
    writer.create(path, b"0")
    want.append("0")
    ok = ok and seen.wait_last("0")
    for i in range(1, changes + 1):
        writer.set(path, str(i).encode())
        want.append(str(i))
        if not seen.wait_last(str(i)):
            ok = False
            break
    writer.delete(path)
    want.append(None)
    ok = ok and seen.wait_last(None)
    got = seen.snapshot()
    chk.check(ok and got == want, "DataWatch saw creation, %d sets and deletion in order (saw %d values%s)"
              % (changes, len(got), "" if got == want else ", first difference at %d" % first_diff(got, want)))


def data_watch_burst(chk, watcher, writer, path, changes):
    seen = Seen()
    writer.create(path, b"0")
    watcher.sync(path)  # see the create on the watcher's server (children_watch)
    watcher.DataWatch(path, lambda data, stat: seen.add(None if data is None else int(data)))
    for i in range(1, changes + 1):
        writer.set(path, str(i).encode())
    reached = seen.wait_last(changes)
    got = seen.snapshot()
    increasing = all(a < b for a, b in zip(got, got[1:]))
    chk.check(reached and increasing,
              "DataWatch under %d back-to-back sets saw increasing values ending at the last (%d callbacks)"
              % (changes, len(got)))


def children_watch(chk, watcher, writer, path, changes):
    writer.create(path)
    # The clients may be on different servers: the watcher syncs to see
    # the writer's create, or a ChildrenWatch set on a lagging server finds
    # no node and ends, as kazoo's does.
    watcher.sync(path)
    seen = Seen()
    watcher.ChildrenWatch(path, lambda children: seen.add(tuple(sorted(children))))
    ok = seen.wait_last(())
    want = [()]
    names = []
    for i in range(changes):
        names.append("c%04d" % i)
        writer.create(path + "/" + names[-1])
        want.append(tuple(names))
        if not seen.wait_last(tuple(names)):
            ok = False
            break
    for name in list(names):
        writer.delete(path + "/" + name)
        names.remove(name)
        want.append(tuple(names))
        if not seen.wait_last(tuple(names)):
            ok = False
            break
    got = seen.snapshot()
    chk.check(ok and got == want, "ChildrenWatch saw %d creations and %d deletions in order (saw %d listings)"
              % (changes, changes, len(got)))


def event_before_data(chk, watcher, writer, path, changes):
    """The client orders what it hands kazoo as it arrives: a watch event
    queued before a read's reply is on the callback queue before a marker
    queued after that read returns. So when the marker runs, the watch
    callback must have run."""
    writer.create(path, b"v0")
    writer.create(path + "/kids")
    watcher.sync(path + "/kids")  # see the creates on the watcher's server (children_watch)
    late = []
    for i in range(1, changes + 1):
        for kind in ("data", "child"):
            fired = threading.Event()
            if kind == "data":
                watcher.get(path, watch=lambda ev, f=fired: f.set())
                writer.set(path, b"v%d" % i)
                arrived = wait_until(lambda: watcher.get(path)[0] == b"v%d" % i)
            else:
                watcher.get_children(path + "/kids", watch=lambda ev, f=fired: f.set())
                writer.create(path + "/kids/k%d" % i)
                arrived = wait_until(lambda: "k%d" % i in watcher.get_children(path + "/kids"))
            marker = threading.Event()
            before = []
            watcher.handler.dispatch_callback(
                Callback("watch", lambda: (before.append(fired.is_set()), marker.set()), ()))
            if not (arrived and marker.wait(DEADLINE)) or not before[0]:
                late.append((kind, i))
    chk.check(not late, "for %d data and %d child changes the watch event came before the read returning the change (late: %s)"
              % (changes, changes, late[:5]))


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


if __name__ == "__main__":
    main()
