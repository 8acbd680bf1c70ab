"""kazoo's Lock recipe contended by several clients, each with its own
session: a counter znode is read and written back incremented under the lock
(the write conditional on the version read), so any overlap of two holders
shows up as a second holder seen in the critical section, a BadVersionError,
or a final count short of the number of increments."""

import random
import threading

from conformlib import Checker, args, base_path, close, connect, run_threads


def main():
    hosts, long = args()
    clients, rounds = (8, 60) if long else (5, 20)
    seed = random.randrange(1 << 30)
    chk = Checker("lock")
    print("lock: %d clients x %d increments, seed %d" % (clients, rounds, seed), flush=True)
    admin = connect(hosts)
    base = base_path("kazoo-lock")
    counter = base + "/counter"
    admin.create(counter, b"0", makepath=True)

    mu = threading.Lock()
    holder = [None]
    overlaps = []

    def worker(i):
        rng = random.Random(seed + i)
        c = connect(hosts)
        try:
            lock = c.Lock(base + "/lock", "client-%d" % i)
            for _ in range(rounds):
                with lock:
                    with mu:
                        if holder[0] is not None:
                            overlaps.append((holder[0], i))
                        holder[0] = i
                    data, stat = c.get(counter)
                    if rng.random() < 0.3:
                        # Hold the lock across another round trip.
                        c.exists(base)
                    c.set(counter, str(int(data) + 1).encode(), version=stat.version)
                    with mu:
                        if holder[0] != i:
                            overlaps.append((i, holder[0]))
                        holder[0] = None
        finally:
            close(c)

    run_threads(chk, [lambda i=i: worker(i) for i in range(clients)])
    chk.check(not overlaps, "no two clients held the lock at once (overlaps: %s)" % overlaps[:5])
    data, _ = admin.get(counter)
    want = clients * rounds
    chk.check(int(data) == want, "final count %s, want %d" % (data.decode(), want))
    left = admin.get_children(base + "/lock")
    chk.check(left == [], "no lock node left after every holder released (%s)" % left)
    admin.delete(base, recursive=True)
    close(admin)
    chk.exit()


if __name__ == "__main__":
    main()
