package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"unicode/utf8"

	"github.com/keeper-go/keeper"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// admin serves the member's HTTP admin port. It has no authentication: it
// binds a loopback address unless told otherwise.
type admin struct {
	node   *keeper.Node
	reload func() error
	log    *slog.Logger
}

// newAdmin routes the admin endpoints:
//
//	GET    /status                 Node.Status() as JSON (Role as a word)
//	GET    /backup                 a backup stream (Linearizable), for keeper.VerifyBackup or examples/backup
//	POST   /restore-online         body: a backup stream; ?subtree=/a/b, ?allow-foreign=1
//	POST   /reload                 re-read the TLS files
//	PUT    /znode/<path>           create (parents too) or set, body = data
//	GET    /znode/<path>           data and stat as JSON; ?linearizable=1 reads through a quorum
//	DELETE /znode/<path>           delete any version
//	POST   /load/create            ?callers=64&n=20000&size=100&warm=1000: sequential creates, ops/s as JSON
//	POST   /load/get               ?callers=16&n=100000: local reads of 1000 znodes, ops/s as JSON
//	POST   /load/fill              ?n=1000000&size=64: n znodes in transactions of 1000
//	GET    /metrics                Prometheus metrics: the member's (Node.Collector), Go's and the process's
func newAdmin(n *keeper.Node, reload func() error, log *slog.Logger) http.Handler {
	a := &admin{node: n, reload: reload, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", a.status)
	mux.HandleFunc("GET /backup", a.backup)
	mux.HandleFunc("POST /restore-online", a.restoreOnline)
	mux.HandleFunc("POST /reload", a.reloadTLS)
	mux.HandleFunc("PUT /znode/{path...}", a.putZnode)
	mux.HandleFunc("GET /znode/{path...}", a.getZnode)
	mux.HandleFunc("DELETE /znode/{path...}", a.deleteZnode)
	mux.HandleFunc("POST /load/create", a.loadCreate)
	mux.HandleFunc("POST /load/get", a.loadGet)
	mux.HandleFunc("POST /load/fill", a.loadFill)
	mux.Handle("GET /metrics", metricsHandler(n))
	return mux
}

// metricsHandler serves the member's metrics, with the Go runtime's and the
// process's, from a registry of its own.
func metricsHandler(n *keeper.Node) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// withProfiles adds Go's profiles under /debug/pprof/ to h when on.
func withProfiles(h http.Handler, on bool) http.Handler {
	if !on {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// statusJSON is Status with its Role spelled out and its Digest as 16 hex
// digits (as examples/backup prints it; a JSON number loses a uint64's low
// bits in most decoders).
type statusJSON struct {
	keeper.Status
	Role   string
	Digest string
}

func (a *admin) status(w http.ResponseWriter, r *http.Request) {
	st := a.node.Status()
	writeJSON(w, http.StatusOK, statusJSON{Status: st, Role: st.Role.String(), Digest: fmt.Sprintf("%016x", st.Digest)})
}

func (a *admin) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	cw := &countingWriter{w: w}
	info, err := a.node.Backup(r.Context(), cw, keeper.BackupOptions{Linearizable: true})
	if err != nil {
		a.log.Warn("backup failed", "err", err)
		if cw.n == 0 {
			w.Header().Del("Content-Type")
			writeError(w, err)
			return
		}
		// The stream has begun: cut the connection, so the client sees a
		// stream with no footer, which never verifies.
		panic(http.ErrAbortHandler)
	}
	a.log.Info("backup served", "zxid", info.Zxid, "znodes", info.Znodes)
}

func (a *admin) restoreOnline(w http.ResponseWriter, r *http.Request) {
	opts := keeper.RestoreOnlineOptions{
		Subtree:      r.URL.Query().Get("subtree"),
		AllowForeign: r.URL.Query().Get("allow-foreign") == "1",
	}
	info, err := a.node.RestoreOnline(r.Context(), r.Body, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *admin) reloadTLS(w http.ResponseWriter, r *http.Request) {
	if err := a.reload(); err != nil {
		writeJSON(w, http.StatusInternalServerError, errorJSON{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// znodeJSON is a znode as the znode endpoints return it. Data is the
// znode's bytes as a string when they are valid UTF-8, else DataBase64
// holds them.
type znodeJSON struct {
	Path       string      `json:"path"`
	Data       *string     `json:"data,omitempty"`
	DataBase64 []byte      `json:"data_base64,omitempty"`
	Stat       keeper.Stat `json:"stat"`
}

func newZnodeJSON(path string, data []byte, st keeper.Stat) znodeJSON {
	z := znodeJSON{Path: path, Stat: st}
	if utf8.Valid(data) {
		s := string(data)
		z.Data = &s
	} else {
		z.DataBase64 = data
	}
	return z
}

func znodePath(r *http.Request) string { return "/" + r.PathValue("path") }

func (a *admin) putZnode(w http.ResponseWriter, r *http.Request) {
	p := znodePath(r)
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorJSON{Error: err.Error()})
		return
	}
	st, err := createOrSet(r.Context(), a.node, p, data)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newZnodeJSON(p, data, st))
}

// createOrSet creates p with data, creating missing parents empty, or sets
// its data if it exists.
func createOrSet(ctx context.Context, n *keeper.Node, p string, data []byte) (keeper.Stat, error) {
	for {
		_, st, err := n.Create2(ctx, p, data, keeper.Persistent)
		switch {
		case err == nil:
			return st, nil
		case errors.Is(err, keeper.ErrNodeExists):
			st, err := n.Set(ctx, p, data, keeper.AnyVersion)
			if errors.Is(err, keeper.ErrNoNode) {
				continue // deleted in between
			}
			return st, err
		case errors.Is(err, keeper.ErrNoNode):
			if err := createParents(ctx, n, p); err != nil {
				return keeper.Stat{}, err
			}
		default:
			return keeper.Stat{}, err
		}
	}
}

// createParents creates the missing ancestors of p, empty and persistent.
func createParents(ctx context.Context, n *keeper.Node, p string) error {
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		if err := ensure(ctx, n, p[:i], nil); err != nil {
			return err
		}
	}
	return nil
}

func (a *admin) getZnode(w http.ResponseWriter, r *http.Request) {
	p := znodePath(r)
	c := &a.node.Client
	if r.URL.Query().Get("linearizable") == "1" {
		c = c.Linearizable()
	}
	data, st, err := c.Get(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newZnodeJSON(p, data, st))
}

func (a *admin) deleteZnode(w http.ResponseWriter, r *http.Request) {
	if err := a.node.Delete(r.Context(), znodePath(r), keeper.AnyVersion); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error string `json:"error"`
}

// writeError answers err with the HTTP status that says what a caller may
// do: 404/409/400 are final, 503 (no leader, nothing proposed) may be
// retried, 504 means the outcome is unknown.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, keeper.ErrNoNode):
		code = http.StatusNotFound
	case errors.Is(err, keeper.ErrNodeExists), errors.Is(err, keeper.ErrBadVersion), errors.Is(err, keeper.ErrNotEmpty):
		code = http.StatusConflict
	case errors.Is(err, keeper.ErrBadArguments), errors.Is(err, keeper.ErrCorruptBackup),
		errors.Is(err, keeper.ErrBackupTruncated), errors.Is(err, keeper.ErrBackupKey),
		errors.Is(err, keeper.ErrBackupNotEncrypted), errors.Is(err, keeper.ErrWrongCluster):
		code = http.StatusBadRequest
	case errors.Is(err, keeper.ErrNoLeader), errors.Is(err, keeper.ErrClosed):
		code = http.StatusServiceUnavailable
	case errors.Is(err, keeper.ErrIndeterminate), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = http.StatusGatewayTimeout
	}
	writeJSON(w, code, errorJSON{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, fmt.Appendf(nil, `{"error":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// queryInt reads a positive integer query parameter, or def when absent.
func queryInt(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: ?%s=%q must be a non-negative integer", keeper.ErrBadArguments, name, s)
	}
	return v, nil
}
