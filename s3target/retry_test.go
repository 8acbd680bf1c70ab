package s3target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
)

// faultProxy forwards requests to a store, answering the first fail of
// them with status instead, and an S3 error with code if code is set.
type faultProxy struct {
	*httptest.Server
	fail     atomic.Int64
	status   int
	code     string
	requests atomic.Int64
}

func newFaultProxy(t *testing.T, s *motoServer, status int, code string, fail int64) *faultProxy {
	t.Helper()
	p := &faultProxy{status: status, code: code}
	p.fail.Store(fail)
	p.Server = newHookProxy(t, s, func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		p.requests.Add(1)
		if p.fail.Add(-1) >= 0 {
			writeError(w, p.status, p.code)
			return
		}
		forward.ServeHTTP(w, r)
	})
	return p
}

// newHookProxy returns a server that hands each request to hook, which
// answers it itself or passes it on to the store s with forward. t's
// cleanup closes it.
func newHookProxy(t *testing.T, s *motoServer, hook func(w http.ResponseWriter, r *http.Request, forward http.Handler)) *httptest.Server {
	t.Helper()
	target, err := url.Parse("http://" + s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hook(w, r, forward) }))
	t.Cleanup(srv.Close)
	return srv
}

// writeError answers with status, and with an S3 error of code if code is
// set.
func writeError(w http.ResponseWriter, status int, code string) {
	if code == "" {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>injected</Message></Error>", code)
}

func (p *faultProxy) endpoint() string { return proxyEndpoint(p.Server) }

// proxyEndpoint is the host:port of srv, as Options.Endpoint wants it.
func proxyEndpoint(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// Transient answers are retried until the store takes the Put: 5xx, and
// Amazon S3's 409 for a conditional write racing another, where the
// retry's answer decides.
func TestS3TargetRetries(t *testing.T) {
	s := sharedMoto(t)
	for _, c := range []struct {
		status int
		code   string
		fail   int64
	}{
		{http.StatusServiceUnavailable, "", 3},
		{http.StatusInternalServerError, "InternalError", 1},
		{http.StatusConflict, "ConditionalRequestConflict", 1},
	} {
		t.Run(fmt.Sprint(c.status, c.code), func(t *testing.T) {
			p := newFaultProxy(t, s, c.status, c.code, 0)
			tg := newTarget(t, &motoServer{Endpoint: p.endpoint()}, newBucket(t, s), "")
			p.fail.Store(c.fail)
			p.requests.Store(0)
			if err := tg.Put(waitCtx(t, 30*time.Second), "base/0001", bytes.NewReader([]byte("base"))); err != nil {
				t.Fatalf("Put through %d failures: %v", c.fail, err)
			}
			if n := p.requests.Load(); n != c.fail+1 {
				t.Fatalf("%d requests; want %d failed and 1 that succeeded", n, c.fail)
			}
		})
	}
}

// A 4xx answer is final: one request, no retry.
func TestS3TargetNoRetry4xx(t *testing.T) {
	s := sharedMoto(t)
	bucket := newBucket(t, s)
	p := newFaultProxy(t, s, http.StatusBadRequest, "", 1)
	tg, err := New(waitCtx(t, 30*time.Second), Options{
		Endpoint: p.endpoint(), Bucket: bucket, Region: "us-east-1",
		AccessKey: motoKey, SecretKey: motoSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	err = tg.Put(waitCtx(t, 30*time.Second), "base/0001", bytes.NewReader([]byte("base")))
	if err == nil || errors.Is(err, keeper.ErrTargetExists) {
		t.Fatalf("Put answered 400 = %v; want a plain error", err)
	}
	if n := p.requests.Load(); n != 1 {
		t.Fatalf("%d requests for a 400; want 1", n)
	}
}

// With the store gone, a call retries until its context's deadline and
// then returns an ordinary error that says so.
func TestS3TargetServerStopped(t *testing.T) {
	s := newMoto(t)
	tg := newTarget(t, s, newBucket(t, s), "")
	if err := tg.Put(waitCtx(t, 30*time.Second), "base/0001", bytes.NewReader([]byte("base"))); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := tg.Put(ctx, "base/0002", bytes.NewReader([]byte("base")))
	if err == nil || errors.Is(err, keeper.ErrTargetExists) || errors.Is(err, keeper.ErrTargetNotFound) {
		t.Fatalf("Put to a stopped store = %v; want an ordinary error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put to a stopped store = %v; want it to end at the deadline", err)
	}
	if !strings.Contains(err.Error(), "tries") {
		t.Fatalf("Put to a stopped store = %v; want it to say how often it tried", err)
	}
	// Without a deadline, RetryFor bounds the retries.
	tg.retryFor = 200 * time.Millisecond
	if _, err := tg.Get(context.Background(), "base/0001"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get from a stopped store = %v; want it to end after RetryFor", err)
	}
}
