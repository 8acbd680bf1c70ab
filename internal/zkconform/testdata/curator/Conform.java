// Conform drives Apache Curator's recipes against a ZooKeeper service while
// the test that runs it kills and restarts members of the service.
//
// Usage: java Conform HOSTS SEED [--long]
//
// It runs four workloads at once, each on clients (sessions) of its own:
//
//   mutex   InterProcessMutex contended by several clients; under the lock
//           a counter znode is read and written back incremented, the write
//           conditional on the version read. Checked: no two holders at
//           once, and the final counter equals the increments made.
//   latch   LeaderLatch with several participants; the leader steps down
//           (closes its latch and joins again) over and over. Checked: at
//           most one participant leads at any time, a new leader follows
//           each step-down, and at the end exactly one leads and all agree
//           on who.
//   barrier DistributedBarrier set and removed in rounds while clients wait
//           on it. Checked: no waiter that has seen the barrier set passes
//           it before it is removed, every waiter passes once it is.
//   cache   CuratorCache over a subtree a writer changes one step at a
//           time, each step waiting until the cache has seen it. Checked:
//           the cache sees every change, in order.
//
// Protocol, a line at a time: Conform prints "ready" once every workload
// has made progress. It then reads commands on stdin: after "killed" or
// "restarted" (the test has just killed or restarted a member) it waits
// until every workload has made progress again and prints "progressed
// COMMAND"; after "finish" it stops the workloads, checks them and prints
// one "result NAME ok DETAIL" or "result NAME FAIL DETAIL" line per
// workload, then "done". A workload that makes no progress within the
// deadline is reported as failed.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

public class Conform {
    static final long DEADLINE_MS = 60_000;

    static String hosts;
    static String base;
    static final AtomicBoolean stop = new AtomicBoolean();
    static final List<CuratorFramework> clients = Collections.synchronizedList(new ArrayList<>());

    public static void main(String[] args) throws Exception {
        hosts = args[0];
        long seed = Long.parseLong(args[1]);
        boolean longRun = args.length > 2 && args[2].equals("--long");
        base = "/curator-" + ProcessHandle.current().pid() + "-" + System.currentTimeMillis();
        int clientsPer = longRun ? 5 : 3;
        say("seed " + seed + ", " + clientsPer + " clients per workload, base " + base);

        Workload[] ws = {new Mutex(clientsPer), new Latch(clientsPer, seed), new Barrier(clientsPer - 1, seed), new Cache()};
        List<Thread> threads = new ArrayList<>();
        for (Workload w : ws) {
            w.setUp();
            Thread t = new Thread(() -> {
                try {
                    w.run();
                } catch (Throwable e) {
                    w.fail("workload thread died: " + e);
                }
            }, w.name);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        awaitProgress(ws, "start");
        say("ready");

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String cmd; (cmd = in.readLine()) != null; ) {
            cmd = cmd.trim();
            if (cmd.equals("finish")) {
                break;
            }
            awaitProgress(ws, cmd);
            say("progressed " + cmd);
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(DEADLINE_MS);
            if (t.isAlive()) {
                say("error workload " + t.getName() + " did not stop");
            }
        }
        for (Workload w : ws) {
            try {
                w.check();
            } catch (Throwable e) {
                w.fail("final check raised " + e);
            }
            w.report();
        }
        for (CuratorFramework c : clients) {
            c.close();
        }
        say("done");
        System.exit(0);
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static CuratorFramework connect() throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts)
                .sessionTimeoutMs(15_000)
                .connectionTimeoutMs(10_000)
                .retryPolicy(new ExponentialBackoffRetry(50, 20, 1_000))
                .build();
        c.start();
        if (!c.blockUntilConnected((int) DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("client did not connect to " + hosts);
        }
        clients.add(c);
        return c;
    }

    // Waits until every workload has made progress since now.
    static void awaitProgress(Workload[] ws, String after) throws InterruptedException {
        long[] from = new long[ws.length];
        for (int i = 0; i < ws.length; i++) {
            from[i] = ws[i].progress.get();
        }
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        for (int i = 0; i < ws.length; i++) {
            while (ws[i].progress.get() < from[i] + ws[i].step && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            if (ws[i].progress.get() < from[i] + ws[i].step) {
                ws[i].fail("no progress within " + DEADLINE_MS + " ms after " + after);
            }
        }
    }

    abstract static class Workload {
        final String name;
        final AtomicLong progress = new AtomicLong();
        final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        volatile String detail = "";
        long step = 5; // progress counted as "made progress"

        Workload(String name) {
            this.name = name;
        }

        void setUp() throws Exception {}

        abstract void run() throws Exception;

        abstract void check() throws Exception;

        void fail(String what) {
            failures.add(what);
            say("error " + name + ": " + what);
        }

        void report() {
            if (failures.isEmpty()) {
                say("result " + name + " ok " + detail);
            } else {
                say("result " + name + " FAIL " + String.join("; ", failures) + " (" + detail + ")");
            }
        }
    }

    // InterProcessMutex with a counter written under the lock.
    static class Mutex extends Workload {
        final int n;
        final AtomicLong increments = new AtomicLong();
        final AtomicInteger holder = new AtomicInteger(-1);
        final AtomicInteger overlaps = new AtomicInteger();
        String counter;

        Mutex(int n) {
            super("mutex");
            this.n = n;
        }

        void setUp() throws Exception {
            counter = base + "/mutex/counter";
            connect().create().creatingParentsIfNeeded().forPath(counter, "0".getBytes());
        }

        void run() throws Exception {
            List<Thread> ts = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                final int id = i;
                final CuratorFramework c = connect();
                Thread t = new Thread(() -> {
                    InterProcessMutex m = new InterProcessMutex(c, base + "/mutex/lock");
                    while (!stop.get()) {
                        try {
                            if (!m.acquire(DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                                fail("client " + id + " did not get the lock within " + DEADLINE_MS + " ms");
                                continue;
                            }
                        } catch (Exception e) {
                            continue; // connection trouble: try again
                        }
                        try {
                            if (!holder.compareAndSet(-1, id)) {
                                overlaps.incrementAndGet();
                            }
                            increment(c);
                        } catch (Exception e) {
                            fail("client " + id + " increment: " + e);
                        } finally {
                            holder.compareAndSet(id, -1);
                            release(m);
                        }
                    }
                });
                t.start();
                ts.add(t);
            }
            for (Thread t : ts) {
                t.join();
            }
        }

        // increment adds one to the counter, exactly once even when a write
        // is answered by a connection loss: the lock is held, so a version
        // one past the one read means the write was applied.
        void increment(CuratorFramework c) throws Exception {
            Stat st = new Stat();
            long v0 = Long.parseLong(new String(readRetrying(c, st)));
            int ver = st.getVersion();
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (System.currentTimeMillis() < deadline) {
                try {
                    c.setData().withVersion(ver).forPath(counter, Long.toString(v0 + 1).getBytes());
                    break;
                } catch (Exception e) {
                    Stat now = new Stat();
                    long v = Long.parseLong(new String(readRetrying(c, now)));
                    if (now.getVersion() == ver + 1 && v == v0 + 1) {
                        break; // applied before the connection went
                    }
                    if (now.getVersion() != ver) {
                        throw new IllegalStateException("counter changed under the lock: version " + ver + " -> " + now.getVersion());
                    }
                }
            }
            increments.incrementAndGet();
            progress.incrementAndGet();
        }

        byte[] readRetrying(CuratorFramework c, Stat st) throws Exception {
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (true) {
                try {
                    return c.getData().storingStatIn(st).forPath(counter);
                } catch (KeeperException.ConnectionLossException e) {
                    if (System.currentTimeMillis() > deadline) {
                        throw e;
                    }
                }
            }
        }

        void release(InterProcessMutex m) {
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (m.isOwnedByCurrentThread()) {
                try {
                    m.release();
                } catch (Exception e) {
                    if (System.currentTimeMillis() > deadline) {
                        fail("release: " + e);
                        return;
                    }
                }
            }
        }

        void check() throws Exception {
            long got = Long.parseLong(new String(connect().getData().forPath(counter)));
            detail = "clients=" + n + " increments=" + increments.get() + " counter=" + got + " overlaps=" + overlaps.get();
            if (overlaps.get() > 0) {
                fail(overlaps.get() + " times a client entered while another held the lock");
            }
            if (got != increments.get()) {
                fail("counter " + got + " after " + increments.get() + " increments");
            }
        }
    }

    // LeaderLatch participants, the leader stepping down over and over.
    static class Latch extends Workload {
        final int n;
        final Random rnd;
        final CuratorFramework[] cs;
        final LeaderLatch[] latches;
        final AtomicInteger leading = new AtomicInteger();
        final AtomicInteger maxLeading = new AtomicInteger();
        final AtomicLong elections = new AtomicLong();
        final AtomicBoolean[] leads;
        int stepDowns;
        String path;

        Latch(int n, long seed) {
            super("latch");
            this.n = n;
            this.rnd = new Random(seed);
            cs = new CuratorFramework[n];
            latches = new LeaderLatch[n];
            leads = new AtomicBoolean[n];
            step = 3;
        }

        void setUp() throws Exception {
            path = base + "/latch";
            for (int i = 0; i < n; i++) {
                cs[i] = connect();
                join(i);
            }
        }

        void join(int i) throws Exception {
            LeaderLatch l = new LeaderLatch(cs[i], path, "p" + i);
            // leads is whether this latch is counted in leading: a latch
            // may lead, lose leadership with its connection, and lead again.
            AtomicBoolean leads = new AtomicBoolean();
            this.leads[i] = leads;
            l.addListener(new LeaderLatchListener() {
                public void isLeader() {
                    if (leads.compareAndSet(false, true)) {
                        elections.incrementAndGet();
                        int now = leading.incrementAndGet();
                        maxLeading.accumulateAndGet(now, Math::max);
                    }
                }

                public void notLeader() {
                    if (leads.compareAndSet(true, false)) {
                        leading.decrementAndGet();
                    }
                }
            });
            latches[i] = l;
            l.start();
        }

        int leader() {
            for (int i = 0; i < n; i++) {
                if (latches[i].hasLeadership()) {
                    return i;
                }
            }
            return -1;
        }

        void run() throws Exception {
            while (!stop.get()) {
                int l = awaitLeader();
                if (l < 0) {
                    fail("no leader within " + DEADLINE_MS + " ms");
                    return;
                }
                progress.incrementAndGet();
                Thread.sleep(rnd.nextInt(100));
                // Step down: count this leader out first, as closing the
                // latch removes its node before telling its listener.
                if (leads[l].compareAndSet(true, false)) {
                    leading.decrementAndGet();
                }
                latches[l].close(LeaderLatch.CloseMode.NOTIFY_LEADER);
                stepDowns++;
                join(l);
            }
        }

        int awaitLeader() throws InterruptedException {
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (System.currentTimeMillis() < deadline) {
                int l = leader();
                if (l >= 0) {
                    return l;
                }
                Thread.sleep(5);
            }
            return -1;
        }

        void check() throws Exception {
            int l = awaitLeader();
            // Every participant agrees on the leader, once all see the same.
            String want = l < 0 ? "" : "p" + l;
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            List<String> seen = new ArrayList<>();
            while (System.currentTimeMillis() < deadline) {
                seen.clear();
                for (LeaderLatch x : latches) {
                    seen.add(x.getLeader().getId());
                }
                if (seen.stream().allMatch(want::equals)) {
                    break;
                }
                Thread.sleep(10);
            }
            int holders = 0;
            for (LeaderLatch x : latches) {
                holders += x.hasLeadership() ? 1 : 0;
            }
            detail = "participants=" + n + " stepdowns=" + stepDowns + " elections=" + elections.get() + " max_leaders=" + maxLeading.get();
            if (maxLeading.get() > 1) {
                fail(maxLeading.get() + " participants led at once");
            }
            if (l < 0 || holders != 1) {
                fail(holders + " participants lead at the end");
            }
            if (!seen.stream().allMatch(want::equals)) {
                fail("participants disagree on the leader " + want + ": " + seen);
            }
            for (LeaderLatch x : latches) {
                x.close();
            }
        }
    }

    // DistributedBarrier set and removed in rounds.
    static class Barrier extends Workload {
        final int n;
        final Random rnd;
        final AtomicLong early = new AtomicLong();
        long rounds;
        String path;

        Barrier(int n, long seed) {
            super("barrier");
            this.n = n;
            this.rnd = new Random(seed + 1);
            step = 3;
        }

        void run() throws Exception {
            path = base + "/barrier";
            CuratorFramework ctl = connect();
            DistributedBarrier control = new DistributedBarrier(ctl, path);
            List<DistributedBarrier> waiters = new ArrayList<>();
            List<CuratorFramework> waiterClients = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CuratorFramework c = connect();
                waiterClients.add(c);
                waiters.add(new DistributedBarrier(c, path));
            }
            while (!stop.get()) {
                retry(() -> { control.setBarrier(); return null; });
                AtomicBoolean removed = new AtomicBoolean();
                CountDownLatch passed = new CountDownLatch(n);
                for (int i = 0; i < n; i++) {
                    DistributedBarrier w = waiters.get(i);
                    CuratorFramework c = waiterClients.get(i);
                    Thread t = new Thread(() -> {
                        long deadline = System.currentTimeMillis() + DEADLINE_MS;
                        // Reads are sequentially consistent, not linearizable:
                        // a waiter whose server has not yet applied the set
                        // barrier may pass it. Wait until this client sees
                        // it; from then on it must not pass before removal.
                        while (System.currentTimeMillis() < deadline && !removed.get()) {
                            try {
                                if (c.checkExists().forPath(path) != null) {
                                    break;
                                }
                            } catch (Exception e) {
                                // connection trouble: look again
                            }
                        }
                        while (System.currentTimeMillis() < deadline) {
                            try {
                                if (w.waitOnBarrier(deadline - System.currentTimeMillis(), TimeUnit.MILLISECONDS)) {
                                    if (!removed.get()) {
                                        early.incrementAndGet();
                                    }
                                    passed.countDown();
                                    return;
                                }
                            } catch (Exception e) {
                                // connection trouble: wait again
                            }
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                }
                Thread.sleep(10 + rnd.nextInt(40));
                removed.set(true);
                retry(() -> { control.removeBarrier(); return null; });
                if (!passed.await(DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                    fail(passed.getCount() + " waiters still wait " + DEADLINE_MS + " ms after the barrier was removed");
                    return;
                }
                rounds++;
                progress.incrementAndGet();
            }
        }

        void check() {
            detail = "waiters=" + n + " rounds=" + rounds + " early=" + early.get();
            if (early.get() > 0) {
                fail(early.get() + " waiters passed a barrier that was set");
            }
        }
    }

    // CuratorCache watching a subtree changed one step at a time.
    static class Cache extends Workload {
        final ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
        final List<String> made = new ArrayList<>();
        final AtomicReference<String> last = new AtomicReference<>("");
        String path;
        CuratorCache cache;

        Cache() {
            super("cache");
            step = 10;
        }

        void setUp() throws Exception {
            path = base + "/cache";
            CuratorFramework c = connect();
            c.create().creatingParentsIfNeeded().forPath(path + "/node", "0".getBytes());
            cache = CuratorCache.build(connect(), path);
            CountDownLatch primed = new CountDownLatch(1);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(d -> record("create " + d.getPath() + " " + new String(d.getData())))
                    .forChanges((before, after) -> record("change " + after.getPath() + " " + new String(after.getData())))
                    .forDeletes(d -> record("delete " + d.getPath()))
                    .forInitialized(primed::countDown)
                    .build());
            cache.start();
            if (!primed.await(DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("cache not initialised");
            }
            seen.clear(); // the initial creates
        }

        void record(String ev) {
            seen.add(ev);
            synchronized (last) {
                last.set(ev);
                last.notifyAll();
            }
        }

        void run() throws Exception {
            CuratorFramework w = connect();
            for (int i = 1; !stop.get(); i++) {
                final byte[] val = Integer.toString(i).getBytes();
                String ev;
                if (i % 5 == 0) {
                    String child = path + "/c" + i;
                    retry(() -> w.create().forPath(child, val));
                    made.add("create " + child + " " + i);
                    await("create " + child + " " + i);
                    retry(() -> { w.delete().forPath(child); return null; });
                    ev = "delete " + child;
                } else {
                    setOnce(w, path + "/node", val);
                    ev = "change " + path + "/node " + i;
                }
                made.add(ev);
                if (!await(ev)) {
                    return;
                }
                progress.incrementAndGet();
            }
        }

        boolean await(String ev) throws InterruptedException {
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            synchronized (last) {
                while (!last.get().equals(ev) && System.currentTimeMillis() < deadline) {
                    last.wait(100);
                }
            }
            if (!last.get().equals(ev)) {
                fail("cache did not see \"" + ev + "\" within " + DEADLINE_MS + " ms");
                return false;
            }
            return true;
        }

        void check() {
            List<String> got = new ArrayList<>(seen);
            detail = "changes=" + made.size() + " events=" + got.size();
            for (int i = 0; i < Math.max(got.size(), made.size()); i++) {
                String g = i < got.size() ? got.get(i) : "(none)";
                String m = i < made.size() ? made.get(i) : "(none)";
                if (!g.equals(m)) {
                    fail("event " + i + ": saw \"" + g + "\", made \"" + m + "\"");
                    break;
                }
            }
            cache.close();
        }
    }

    interface Op<T> {
        T call() throws Exception;
    }

    // retry runs an idempotent operation until it succeeds, riding out a
    // connection lost while a member is down. An operation whose first try
    // was applied before its answer was lost must be safe to repeat: the
    // callers repeat only setData without a version, setBarrier,
    // removeBarrier, create of a new name (whose NodeExists is success) and
    // delete (whose NoNode is success).
    // setOnce sets path to val exactly once, even when a write is answered by
    // a connection loss after it was applied (a change the cache would see
    // twice): it writes at the version it read, and after a failure reads
    // again, done if the node holds val one version on.
    static void setOnce(CuratorFramework c, String path, byte[] val) throws Exception {
        Stat st = new Stat();
        retry(() -> c.getData().storingStatIn(st).forPath(path));
        int ver = st.getVersion();
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (true) {
            try {
                c.setData().withVersion(ver).forPath(path, val);
                return;
            } catch (KeeperException.BadVersionException e) {
                Stat now = new Stat();
                byte[] got = retry(() -> c.getData().storingStatIn(now).forPath(path));
                if (now.getVersion() == ver + 1 && java.util.Arrays.equals(got, val)) {
                    return; // the earlier attempt was applied
                }
                throw e;
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    static <T> T retry(Op<T> op) throws Exception {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (true) {
            try {
                return op.call();
            } catch (KeeperException.NodeExistsException | KeeperException.NoNodeException e) {
                return null;
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }
}
