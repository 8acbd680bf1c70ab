package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// adminCall sends one request to the admin handler and returns the status
// code and body.
func adminCall(t *testing.T, srv *httptest.Server, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// The admin endpoints on one member: znode calls with their HTTP statuses,
// status, a backup that verifies, an online restore of it, the load
// generators and a failing reload.
func TestAdminEndpoints(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	n := c.Leader()
	reloadErr := errors.New("server: no such file")
	srv := httptest.NewServer(newAdmin(n, func() error { return reloadErr }, slog.New(slog.DiscardHandler)))
	defer srv.Close()

	expect := func(method, path, body string, want int) []byte {
		t.Helper()
		code, b := adminCall(t, srv, method, path, []byte(body))
		if code != want {
			t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, code, b, want)
		}
		return b
	}
	// Create with parents, set, read (local and linearizable), delete.
	expect("PUT", "/znode/app/cfg/db", "v1", 200)
	z := decode[znodeJSON](t, expect("PUT", "/znode/app/cfg/db", "v2", 200))
	if z.Stat.Version != 1 {
		t.Errorf("set: version %d, want 1", z.Stat.Version)
	}
	for _, q := range []string{"", "?linearizable=1"} {
		z = decode[znodeJSON](t, expect("GET", "/znode/app/cfg/db"+q, "", 200))
		if z.Data == nil || *z.Data != "v2" || z.Path != "/app/cfg/db" || z.Stat.Version != 1 {
			t.Errorf("get%s: %+v", q, z)
		}
	}
	z = decode[znodeJSON](t, expect("PUT", "/znode/bin", "\xff\x00", 200))
	z = decode[znodeJSON](t, expect("GET", "/znode/bin", "", 200))
	if z.Data != nil || string(z.DataBase64) != "\xff\x00" {
		t.Errorf("binary data: %+v", z)
	}
	expect("GET", "/znode/nope", "", 404)
	expect("DELETE", "/znode/app", "", 409)
	expect("PUT", "/znode/app/", "x", 400)
	expect("DELETE", "/znode/app/cfg/db", "", 200)
	expect("GET", "/znode/app/cfg/db", "", 404)

	st := decode[statusJSON](t, expect("GET", "/status", "", 200))
	if st.ID != 1 || st.Role != "leader" || st.Leader != 1 || st.Applied == 0 {
		t.Errorf("status %+v", st)
	}
	var raw map[string]any
	_ = json.Unmarshal(expect("GET", "/status", "", 200), &raw)
	now := n.Status() // the digest is compared unless an entry applied in between
	if raw["Role"] != "leader" || (raw["Applied"] == float64(now.Applied) && raw["Digest"] != fmt.Sprintf("%016x", now.Digest)) {
		t.Errorf("status JSON Role %v, Digest %v: want the word and 16 hex digits", raw["Role"], raw["Digest"])
	}

	// A backup verifies and restores online over a changed tree.
	expect("PUT", "/znode/app/cfg/db", "before", 200)
	backup := expect("GET", "/backup", "", 200)
	info, err := keeper.VerifyBackup(context.Background(), bytes.NewReader(backup), keeper.VerifyOptions{})
	if err != nil {
		t.Fatalf("backup from the admin port does not verify: %v", err)
	}
	expect("PUT", "/znode/app/cfg/db", "after", 200)
	ri := decode[keeper.RestoreOnlineInfo](t, expect("POST", "/restore-online", string(backup), 200))
	if ri.Znodes != info.Znodes {
		t.Errorf("restored %d znodes, backup holds %d", ri.Znodes, info.Znodes)
	}
	if z := decode[znodeJSON](t, expect("GET", "/znode/app/cfg/db", "", 200)); z.Data == nil || *z.Data != "before" {
		t.Errorf("after restore: %+v", z)
	}
	expect("POST", "/restore-online", string(backup[:len(backup)/2]), 400)

	// Load generators.
	res := decode[loadResult](t, expect("POST", "/load/create?callers=4&n=200&size=10&warm=20", "", 200))
	if res.Ops != 200 || res.Errors != 0 || res.OpsPerS <= 0 || res.Callers != 4 || res.Op != "create" {
		t.Errorf("load/create: %+v", res)
	}
	if names, _, err := n.Children(context.Background(), "/load"); err != nil || len(names) != 220 {
		t.Errorf("load/create made %d znodes (%v), want 220", len(names), err)
	}
	res = decode[loadResult](t, expect("POST", "/load/get?callers=2&n=1000", "", 200))
	if res.Ops != 1000 || res.Errors != 0 || res.Op != "get" {
		t.Errorf("load/get: %+v", res)
	}
	res = decode[loadResult](t, expect("POST", "/load/fill?n=2500&size=8&prefix=big", "", 200))
	if res.Ops != 3 || res.Errors != 0 {
		t.Errorf("load/fill: %+v", res)
	}
	if _, _, err := n.Get(context.Background(), "/big/n00002499"); err != nil {
		t.Errorf("load/fill: last znode: %v", err)
	}
	expect("POST", "/load/create?callers=0", "", 400)
	expect("POST", "/load/create?n=x", "", 400)

	if b := expect("POST", "/reload", "", 500); !strings.Contains(string(b), "no such file") {
		t.Errorf("reload error body %s", b)
	}
	expect("GET", "/reload", "", 405)

	// The metrics, in Prometheus's text format: the writes above counted,
	// the backup and the restore too, and Go's own.
	m := string(expect("GET", "/metrics", "", 200))
	for _, want := range []string{
		`keeper_backups_total{member="1",outcome="ok"} 1`,
		`keeper_restore_online_duration_seconds_count{member="1"} 1`,
		`keeper_is_leader{member="1"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`keeper_proposals_total\{member="1",outcome="applied"\} [1-9]`).MatchString(m) {
		t.Errorf("/metrics counts no applied proposal:\n%s", m)
	}
}

// Cancelling a load request stops its callers.
func TestAdminLoadCancelled(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	srv := httptest.NewServer(newAdmin(c.Leader(), nil, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/load/create?callers=8&n=100000000", nil)
	start := time.Now()
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	srv.Close() // waits for the handler to return
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("a cancelled load ran for %v", el)
	}
}

// -pprof adds Go's profiles beside the admin endpoints; without it they
// are not served.
func TestAdminProfiles(t *testing.T) {
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(withProfiles(admin, on))
		code, _ := adminCall(t, srv, "GET", "/debug/pprof/", nil)
		if (code == http.StatusOK) != on {
			t.Errorf("pprof %v: /debug/pprof/ answered %d", on, code)
		}
		if code, _ := adminCall(t, srv, "GET", "/status", nil); code != http.StatusTeapot {
			t.Errorf("pprof %v: /status answered %d, want the admin handler's", on, code)
		}
		srv.Close()
	}
}

// /load/fill retries a transaction whose fate a lost leader left unknown,
// and counts one that turns out to have applied: with the filling member
// cut off from the others for a while, every znode is there once and the
// fill reports no error.
func TestAdminFillThroughLeaderLoss(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	n := c.Leader()
	srv := httptest.NewServer(newAdmin(n, nil, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		c.Partition([]uint64{n.ID()}, c.Others(n.ID()))
		time.Sleep(time.Second)
		c.Heal()
	}()
	code, b := adminCall(t, srv, "POST", "/load/fill?n=8000&size=8", nil)
	<-done
	res := decode[loadResult](t, b)
	if code != http.StatusOK || res.Errors != 0 {
		t.Fatalf("fill: HTTP %d %+v", code, res)
	}
	if err := n.Sync(context.Background(), "/fill"); err != nil {
		t.Fatal(err)
	}
	if names, _, err := n.Children(context.Background(), "/fill"); err != nil || len(names) != 8000 {
		t.Fatalf("fill made %d znodes (%v), want 8000", len(names), err)
	}
	t.Logf("fill: %d transactions, %d retries", res.Ops, res.Retries)
}
