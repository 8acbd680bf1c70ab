package zkserver

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/user"
	"runtime"
	"runtime/metrics"
	"slices"

	"github.com/keeper-go/keeper"
)

// na is what ZooKeeper's envi prints for a property the JVM does not have.
const na = "<NA>"

func orNA(v string) string {
	if v == "" {
		return na
	}
	return v
}

// writeEnvi writes envi's answer, with ZooKeeper's keys in its order
// (org.apache.zookeeper.Environment.list) and the Go process's values
// where ZooKeeper gives the JVM's: java.version is the Go version,
// java.class.path the executable, java.compiler Go's compiler, and
// os.memory.* the Go runtime's memory (total: all it mapped; free: heap
// memory holding no objects; max: its memory limit). A property Go has no
// counterpart of (java.vendor, java.home, java.library.path) is "<NA>",
// as ZooKeeper prints a property the JVM lacks.
func (s *Server) writeEnvi(_ *conn, _ keeper.Status, w *bytes.Buffer) {
	host, _ := os.Hostname()
	exe, _ := os.Executable()
	var userName string
	if u, err := user.Current(); err == nil {
		userName = u.Username
	}
	home, _ := os.UserHomeDir()
	wd, _ := os.Getwd()
	total, free, limit := memory()
	w.WriteString("Environment:\n")
	for _, e := range [][2]string{
		{"zookeeper.version", s.version},
		{"host.name", orNA(host)},
		{"java.version", runtime.Version()},
		{"java.vendor", na},
		{"java.home", na},
		{"java.class.path", orNA(exe)},
		{"java.library.path", na},
		{"java.io.tmpdir", os.TempDir()},
		{"java.compiler", runtime.Compiler},
		{"os.name", javaOSName()},
		{"os.arch", javaOSArch()},
		{"os.version", orNA(osVersion())},
		{"user.name", orNA(userName)},
		{"user.home", orNA(home)},
		{"user.dir", orNA(wd)},
		{"os.memory.free", fmt.Sprintf("%dMB", free>>20)},
		{"os.memory.max", fmt.Sprintf("%dMB", limit>>20)},
		{"os.memory.total", fmt.Sprintf("%dMB", total>>20)},
	} {
		fmt.Fprintf(w, "%s=%s\n", e[0], e[1])
	}
}

// memory reads the Go runtime's memory: all it mapped, the heap memory
// holding no objects, and its memory limit (math.MaxInt64 without one, as
// Java's max without -Xmx is Long.MAX_VALUE).
func memory() (total, free, limit uint64) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/gc/gomemlimit:bytes"},
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return v(0), v(1) + v(2), v(3)
}

// javaOSName is Java's os.name for the platform.
func javaOSName() string {
	switch runtime.GOOS {
	case "linux":
		return "Linux"
	case "darwin":
		return "Mac OS X"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	}
	return runtime.GOOS
}

// javaOSArch is Java's os.arch for the platform.
func javaOSArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	}
	return runtime.GOARCH
}

// writeConf writes conf's answer, as ZooKeeper's dumpConf words it, from
// the member's settings: dataDir and dataLogDir are its tree's directory
// and its raft log's, tickTime is raft's tick in milliseconds. keeper has
// no per-host connection limit, no TLS port and no listen backlog of its
// own: maxClientCnxns=0, secureClientPort=-1 and clientPortListenBacklog=-1,
// ZooKeeper's values with those off. clientPort is the port the asking
// connection came in on.
//
// A member of a cluster of several adds ZooKeeper's quorum keys: initLimit
// and syncLimit are raft's election timeout in ticks, electionAlg is 3
// (ZooKeeper's only election), and the member list follows "membership: "
// with each member as ZooKeeper shows a server without addresses
// ("server.2=:participant"; keeper's members have no ports of their own),
// ending with "version=0" and no newline, as ZooKeeper's does.
func (s *Server) writeConf(c *conn, st keeper.Status, w *bytes.Buffer) {
	set := s.n.Settings()
	fp := s.footprint()
	port := -1
	if a, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	fmt.Fprintf(w, "clientPort=%d\n", port)
	w.WriteString("secureClientPort=-1\n")
	fmt.Fprintf(w, "dataDir=%s\n", set.TreeDir)
	fmt.Fprintf(w, "dataDirSize=%d\n", fp.TreeBytes)
	fmt.Fprintf(w, "dataLogDir=%s\n", set.LogDir)
	fmt.Fprintf(w, "dataLogSize=%d\n", fp.LogBytes)
	fmt.Fprintf(w, "tickTime=%d\n", set.TickInterval.Milliseconds())
	w.WriteString("maxClientCnxns=0\n")
	fmt.Fprintf(w, "minSessionTimeout=%d\n", set.MinSessionTimeout.Milliseconds())
	fmt.Fprintf(w, "maxSessionTimeout=%d\n", set.MaxSessionTimeout.Milliseconds())
	w.WriteString("clientPortListenBacklog=-1\n")
	fmt.Fprintf(w, "serverId=%d\n", st.ID)
	if len(st.Members) <= 1 {
		return
	}
	fmt.Fprintf(w, "initLimit=%d\n", set.ElectionTicks)
	fmt.Fprintf(w, "syncLimit=%d\n", set.ElectionTicks)
	w.WriteString("electionAlg=3\n")
	w.WriteString("electionPort=\n")
	w.WriteString("quorumPort=\n")
	peerType := 0
	if slices.Contains(st.Learners, st.ID) {
		peerType = 1
	}
	fmt.Fprintf(w, "peerType=%d\n", peerType)
	w.WriteString("membership: \n")
	for _, id := range st.Members {
		kind := "participant"
		if slices.Contains(st.Learners, id) {
			kind = "observer"
		}
		fmt.Fprintf(w, "server.%d=:%s\n", id, kind)
	}
	w.WriteString("version=0")
}

// writeDirs writes dirs's answer: the bytes of the member's tree
// (ZooKeeper's snapshots) and of its raft log (its transaction logs).
func (s *Server) writeDirs(_ *conn, _ keeper.Status, w *bytes.Buffer) {
	fp := s.footprint()
	fmt.Fprintf(w, "datadir_size: %d\nlogdir_size: %d\n", fp.TreeBytes, fp.LogBytes)
}
