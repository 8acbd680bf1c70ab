// Command server runs one keeper member as an OS process: its peers reach it
// over transport.TCP with mutual TLS, and a loopback-only HTTP admin port
// serves its status, backups, online restores, a few znode calls for demos
// and tests, and a load generator for benchmarks.
//
// Mint a cluster CA and member certificates once:
//
//	go run ./examples/server -init certs -cluster-id 7 -members 1,2,3
//
// then start each member (here three on one machine; -zk also serves
// ZooKeeper's client protocol, so zkCli, Curator, kazoo and go-zookeeper
// clients can use the cluster):
//
//	go run ./examples/server -id 1 -dir data/1 -cluster-id 7 -certs certs \
//	    -peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 -admin 127.0.0.1:8001 \
//	    -zk 127.0.0.1:2181 -zk-peers 1=127.0.0.1:2181,2=127.0.0.1:2182,3=127.0.0.1:2183
//
// -zk-peers lists every member's -zk address so that /zookeeper/config (zkCli's
// "config", Curator's ensemble tracker) shows each member's client address
// beside its -peers address; without it a member shows only its own.
//
// Settings may also come from a file of "name = value" lines (-config FILE),
// the names being the flags'. SIGTERM or SIGINT closes the member cleanly and
// exits 0; SIGHUP re-reads the TLS files (certificate rotation).
//
// Admin endpoints (see admin.go): GET /status, GET /backup, POST
// /restore-online, POST /reload, PUT, GET and DELETE /znode/<path>, POST
// /load/create, /load/get and /load/fill, GET /metrics (Prometheus); with
// -pprof, /debug/pprof/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/zkserver"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "server:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	if slices.ContainsFunc(args, isInitFlag) {
		return runInit(args, stderr)
	}
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, newLogger(c.logLevel, stderr))
}

// serve runs the member until ctx ends, then closes it.
func serve(ctx context.Context, c *config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("peer listener: %w", err)
	}
	others := map[uint64]string{}
	for id, addr := range c.peers {
		if id != c.id {
			others[id] = addr
		}
	}
	tr, err := transport.NewTCP(transport.TCPConfig{
		ID:        c.id,
		ClusterID: c.clusterID,
		Listener:  ln,
		Peers:     others,
		TLS:       transport.TLSFiles{CA: c.ca, Cert: c.cert, Key: c.key},
		Logger:    log.With("part", "transport"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("transport: %w", err)
	}
	defer tr.Close()

	var zln net.Listener
	if c.zk != "" {
		if zln, err = net.Listen("tcp", c.zk); err != nil {
			return fmt.Errorf("zookeeper listener: %w", err)
		}
		defer zln.Close()
	}

	var aln net.Listener
	if c.admin != "" {
		if aln, err = net.Listen("tcp", c.admin); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		defer aln.Close()
	}

	node, err := keeper.Open(ctx, keeper.Config{
		ID:                c.id,
		Dir:               c.dir,
		Peers:             c.peers.ids(),
		ClusterID:         c.clusterID,
		Transport:         tr,
		Logger:            log.With("part", "keeper"),
		KeepEntries:       c.keepEntries,
		SnapshotRate:      c.snapshotRate,
		TickInterval:      c.tick,
		CheckInterval:     c.checkInterval,
		MinSessionTimeout: c.minSessionTime,
		MaxSessionTimeout: c.maxSessionTime,
		SuperDigest:       c.superDigest,
	})
	if err != nil {
		return fmt.Errorf("open member %d: %w", c.id, err)
	}
	log.Info("member running", "id", c.id, "listen", c.listen, "admin", addrOf(aln), "zk", addrOf(zln), "dir", c.dir)
	var zk *zkserver.Server
	zkDone := make(chan error, 1)
	if zln != nil {
		zk = zkserver.New(node, zkserver.Options{Logger: log.With("part", "zkserver"), FourLetterWords: c.zkWords, MemberAddrs: c.memberAddrs})
		go func() { zkDone <- zk.Serve(zln) }()
	}

	reload := func() error {
		if err := tr.Reload(); err != nil {
			log.Error("reload TLS files", "err", err)
			return err
		}
		log.Info("reloaded TLS files")
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Handlers end with the member: their contexts derive from srvCtx.
	srvCtx, cancelSrv := context.WithCancel(context.Background())
	defer cancelSrv()
	var srv *http.Server
	srvDone := make(chan error, 1)
	if aln != nil {
		srv = &http.Server{
			Handler:           withProfiles(newAdmin(node, reload, log), c.pprof),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return srvCtx },
		}
		go func() { srvDone <- srv.Serve(aln) }()
	} else {
		srvDone <- http.ErrServerClosed
	}

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			_ = reload()
		case err := <-srvDone:
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr = fmt.Errorf("admin server: %w", err)
				break loop
			}
			srvDone = nil
		case err := <-zkDone:
			serveErr = fmt.Errorf("zookeeper server: %w", err)
			break loop
		}
	}
	log.Info("closing member", "id", c.id)
	if zk != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := zk.Shutdown(sctx); err != nil {
			log.Warn("zookeeper server shutdown", "err", err)
		}
		cancel()
	}
	if srv != nil {
		cancelSrv()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		cancel()
	}
	err = node.Close()
	if terr := tr.Close(); err == nil && terr != nil && !errors.Is(terr, transport.ErrClosed) {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("close member %d: %w", c.id, err)
	}
	log.Info("member closed", "id", c.id)
	return serveErr
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// logLevel maps -log-level to a slog level; "off" is above every level.
func logLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "off":
		return slog.LevelError + 100, nil
	}
	return 0, fmt.Errorf("%w: -log-level %q: want debug, info, warn, error or off", errUsage, s)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	l, _ := logLevel(level) // checked by config.check
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
