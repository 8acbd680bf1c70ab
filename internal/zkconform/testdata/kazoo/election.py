"""kazoo's Election recipe: contenders, each with its own session, join one
after another; they must lead one at a time, in the order they joined, and
when the leader's client closes its session the next contender must take
over. An observer client checks that the contender list it reads names the
current leader first."""

import threading

from conformlib import DEADLINE, Checker, args, base_path, close, connect, wait_until


def main():
    hosts, long = args()
    n = 8 if long else 4
    chk = Checker("election")
    print("election: %d contenders, each leader's client closed in turn" % n, flush=True)
    observer = connect(hosts)
    path = base_path("kazoo-election")
    observer.ensure_path(path)
    watch = observer.Election(path)

    mu = threading.Lock()
    leading = set()
    order = []
    overlaps = []
    elected = [threading.Event() for _ in range(n)]
    retire = [threading.Event() for _ in range(n)]
    clients = []

    def lead(i):
        with mu:
            if leading:
                overlaps.append((sorted(leading), i))
            leading.add(i)
            order.append(i)
        elected[i].set()
        # Lead until the test closes this client's session.
        retire[i].wait(DEADLINE * 4)

    def contend(i, election):
        try:
            election.run(lead, i)
        except Exception:
            # Releasing the lock fails once the session is closed under it:
            # that is how this contender is made to step down.
            if not retire[i].is_set():
                raise

    threads = []
    for i in range(n):
        c = connect(hosts)
        clients.append(c)
        election = c.Election(path, "p%d" % i)
        t = threading.Thread(target=contend, args=(i, election), daemon=True)
        t.start()
        threads.append(t)
        joined = wait_until(lambda: len(watch.contenders()) == i + 1)
        chk.check(joined, "contender p%d joined (contenders %s)" % (i, watch.contenders()))

    for i in range(n):
        got = elected[i].wait(DEADLINE)
        after = "first" if i == 0 else "once p%d's session closed" % (i - 1)
        if not chk.check(got, "p%d elected %s" % (i, after)):
            break
        contenders = watch.contenders()
        chk.check(contenders[:1] == ["p%d" % i],
                  "contender list names the leader p%d first: %s" % (i, contenders))
        others = [j for j in range(n) if j != i and elected[j].is_set() and j > i]
        chk.check(not others, "no later contender elected while p%d leads (%s)" % (i, others))
        # Step down by closing the session: the ephemeral node goes with it.
        with mu:
            leading.discard(i)
        retire[i].set()
        close(clients[i])

    for t in threads:
        t.join(DEADLINE)
    chk.check(order == list(range(n)), "leaders in joining order: %s" % order)
    chk.check(not overlaps, "one leader at a time (overlaps %s)" % overlaps)
    left = wait_until(lambda: observer.get_children(path) == [])
    chk.check(left, "no contender node left after every session closed")
    observer.delete(path, recursive=True)
    close(observer)
    chk.exit()


if __name__ == "__main__":
    main()
