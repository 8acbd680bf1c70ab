package s3target

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/minio/minio-go/v7"
)

// cutTransport carries a Target's requests to the store and breaks the
// answers to object GETs: the body of the nth GET (from 0) ends after
// cut(n) bytes with a reset connection, or runs whole if cut(n) < 0.
// before, if set, runs ahead of the nth GET, and may change its request.
type cutTransport struct {
	base   *http.Transport
	cut    func(n int) int64
	before func(n int, r *http.Request)
	after  func(n int, resp *http.Response)
	// stall, if set, says which GETs' bodies stop sending at the cut
	// instead, until their request ends; stalled, if set, is closed when
	// the first one does.
	stall   func(n int) bool
	stalled chan struct{}
	once    sync.Once

	mu   sync.Mutex
	gets []*http.Request // the object GETs sent, in order
}

func newCutTransport(t *testing.T, cut func(n int) int64) *cutTransport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return &cutTransport{base: base, cut: cut}
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// Object GETs name a key below the bucket and ask nothing else.
	if r.Method != http.MethodGet || strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 || r.URL.RawQuery != "" {
		return c.base.RoundTrip(r)
	}
	c.mu.Lock()
	n := len(c.gets)
	c.gets = append(c.gets, r)
	c.mu.Unlock()
	if c.before != nil {
		c.before(n, r)
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	if c.after != nil {
		c.after(n, resp)
	}
	if limit := c.cut(n); limit >= 0 {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: limit, tr: c, stall: c.stall != nil && c.stall(n), ctx: r.Context()}
	}
	return resp, nil
}

// requests returns the object GETs sent so far.
func (c *cutTransport) requests() []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*http.Request(nil), c.gets...)
}

// cutBody is a body whose connection resets, or stalls, after left more
// bytes.
type cutBody struct {
	io.ReadCloser
	left  int64
	tr    *cutTransport
	stall bool
	ctx   context.Context // the request's
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		if b.stall {
			if b.tr.stalled != nil {
				b.tr.once.Do(func() { close(b.tr.stalled) })
			}
			<-b.ctx.Done()
			return 0, b.ctx.Err()
		}
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	n, err := b.ReadCloser.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

// cuts cuts the nth GET after at[n] bytes, and leaves the GETs after
// those whole.
func cuts(at ...int64) func(int) int64 {
	return func(n int) int64 {
		if n < len(at) {
			return at[n]
		}
		return -1
	}
}

// getTarget puts data as name through a direct Target on a new bucket of
// the shared store, and returns a Target on that bucket whose requests go
// through tr, with opts's other fields.
func getTarget(t *testing.T, tr http.RoundTripper, opts Options, name string, data []byte) (*Target, string) {
	t.Helper()
	s := sharedMoto(t)
	bucket := newBucket(t, s)
	if err := newTarget(t, s, bucket, "").Put(waitCtx(t, time.Minute), name, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	opts.Endpoint, opts.Bucket, opts.Transport = s.Endpoint, bucket, tr
	return newTargetWith(t, opts), bucket
}

// readObject reads name through tg to its end or first error.
func readObject(ctx context.Context, tg *Target, name string) ([]byte, error) {
	rc, err := tg.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// A read whose connection breaks resumes from the first byte it has not
// delivered, asking for the object it began with, and delivers the
// object's bytes exactly: cut once, twice, before the first byte, after
// the last.
func TestS3TargetGetResumes(t *testing.T) {
	const size = 3<<20 + 17
	data := payload(7, size)
	for _, tc := range []struct {
		name   string
		at     []int64
		ranges []string // the Range header of each GET
	}{
		{"once", []int64{1<<20 + 3}, []string{"", "bytes=1048579-"}},
		{"twice", []int64{1 << 20, 333_333}, []string{"", "bytes=1048576-", "bytes=1381909-"}},
		{"before the first byte", []int64{0}, []string{"", ""}},
		{"after the last byte", []int64{size}, []string{""}},
		{"one byte from the end", []int64{size - 1}, []string{"", "bytes=3145744-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCutTransport(t, cuts(tc.at...))
			tg, _ := getTarget(t, tr, Options{}, "base/0001", data)
			got, err := readObject(waitCtx(t, time.Minute), tg, "base/0001")
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
			}
			reqs := tr.requests()
			if len(reqs) != len(tc.ranges) {
				t.Fatalf("%d GETs; want %d", len(reqs), len(tc.ranges))
			}
			for i, r := range reqs {
				if got := r.Header.Get("Range"); got != tc.ranges[i] {
					t.Errorf("GET %d asks for range %q; want %q", i, got, tc.ranges[i])
				}
				if i > 0 && r.Header.Get("If-Match") == "" {
					t.Errorf("GET %d resumes without If-Match", i)
				}
			}
		})
	}
}

// A read whose every resumption breaks, or stalls, before a byte arrives
// fails once the time for retries runs out. Its ctx has no deadline, so
// that Options.RetryFor bounds the retries.
func TestS3TargetGetGivesUp(t *testing.T) {
	data := payload(8, 2<<20)
	for _, tc := range []struct {
		name  string
		stall bool
		want  error // besides context.DeadlineExceeded
	}{
		{"reset", false, syscall.ECONNRESET},
		{"stalled", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCutTransport(t, func(n int) int64 {
				if n == 0 {
					return 100_000
				}
				return 0
			})
			tr.stall = func(n int) bool { return tc.stall && n > 0 }
			tg, _ := getTarget(t, tr, Options{RetryFor: 300 * time.Millisecond}, "base/0001", data)
			rc, err := tg.Get(context.Background(), "base/0001")
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				got []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				got, err := io.ReadAll(rc)
				done <- result{got, err}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				// Not closed: the read is still running.
				t.Fatal("read still retrying 30s into a RetryFor of 300ms")
			}
			defer rc.Close()
			if !errors.Is(res.err, context.DeadlineExceeded) || tc.want != nil && !errors.Is(res.err, tc.want) {
				t.Fatalf("read = %v; want %v after the time for retries", res.err, tc.want)
			}
			if !bytes.Equal(res.got, data[:100_000]) {
				t.Fatalf("read %d bytes before failing; want the first 100000 of the object", len(res.got))
			}
			if n := len(tr.requests()); n < 2 {
				t.Fatalf("%d GETs; want the first and resumptions", n)
			}
			if _, err := rc.Read(make([]byte, 1)); err == nil {
				t.Fatal("Read after the failure succeeded")
			}
		})
	}
}

// Cancelling the read's ctx ends it at once: while it waits to retry,
// and while a body stalls.
func TestS3TargetGetCancel(t *testing.T) {
	data := payload(9, 2<<20)
	t.Run("retrying", func(t *testing.T) {
		ctx, cancel := context.WithCancel(waitCtx(t, time.Minute))
		tr := newCutTransport(t, func(n int) int64 {
			if n == 0 {
				return 100_000
			}
			return 0
		})
		// The default RetryFor of a minute would outlast the test's
		// wait: only the cancel ends the read.
		tr.before = func(n int, _ *http.Request) {
			if n == 3 {
				cancel()
			}
		}
		tg, _ := getTarget(t, tr, Options{}, "base/0001", data)
		_, err := readObject(ctx, tg, "base/0001")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read = %v; want context.Canceled", err)
		}
		if n := len(tr.requests()); n != 4 {
			t.Fatalf("%d GETs; want none after the cancel in the fourth", n)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(waitCtx(t, time.Minute))
		tr := newCutTransport(t, cuts(1<<20))
		tr.stall = func(int) bool { return true }
		tr.stalled = make(chan struct{})
		tg, _ := getTarget(t, tr, Options{}, "base/0001", data)
		go func() {
			<-tr.stalled
			cancel()
		}()
		got, err := readObject(ctx, tg, "base/0001")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read = %v; want context.Canceled", err)
		}
		if !bytes.Equal(got, data[:1<<20]) {
			t.Fatalf("read %d bytes before the cancel; want the first %d of the object", len(got), 1<<20)
		}
		if n := len(tr.requests()); n != 1 {
			t.Fatalf("%d GETs; want one", n)
		}
	})
}

// A read resumed after its object was deleted and put again with other
// bytes is refused with ErrObjectChanged, also by a store that ignores
// If-Match; put again with the same bytes, the object is the same and
// the read completes.
func TestS3TargetGetObjectReplaced(t *testing.T) {
	const size, at = 2 << 20, 1 << 20
	data := payload(10, size)
	other := payload(11, size)
	for _, tc := range []struct {
		name        string
		with        []byte
		dropIfMatch bool
		changed     bool
	}{
		{"other bytes", other, false, true},
		{"other bytes, If-Match ignored", other, true, true},
		{"same bytes", data, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCutTransport(t, cuts(at))
			tg, bucket := getTarget(t, tr, Options{}, "base/0001", data)
			store := storeClient(t, sharedMoto(t))
			tr.before = func(n int, r *http.Request) {
				if n != 1 {
					return
				}
				ctx := waitCtx(t, time.Minute)
				if err := store.RemoveObject(ctx, bucket, "base/0001", minio.RemoveObjectOptions{}); err != nil {
					t.Errorf("delete: %v", err)
				}
				if _, err := store.PutObject(ctx, bucket, "base/0001", bytes.NewReader(tc.with), int64(len(tc.with)), "", "", minio.PutObjectOptions{}); err != nil {
					t.Errorf("put: %v", err)
				}
				if tc.dropIfMatch {
					r.Header.Del("If-Match")
				}
			}
			got, err := readObject(waitCtx(t, time.Minute), tg, "base/0001")
			if !tc.changed {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes, %v; want the %d put", len(got), err, len(data))
				}
				return
			}
			if !errors.Is(err, ErrObjectChanged) || !errors.Is(err, keeper.ErrArchiveCorrupt) {
				t.Fatalf("read = %v; want ErrObjectChanged and keeper.ErrArchiveCorrupt", err)
			}
			if !bytes.Equal(got, data[:at]) {
				t.Fatalf("read %d bytes before the refusal; want the first %d of the first object", len(got), at)
			}
			if n := len(tr.requests()); n != 2 {
				t.Fatalf("%d GETs; want no retry after the refusal", n)
			}
		})
	}
}

// A store that names no ETag gives nothing to pin a resumption to: the
// read fails where the connection broke instead of asking again.
func TestS3TargetGetNoETag(t *testing.T) {
	const at = 1 << 20
	data := payload(12, 2<<20)
	tr := newCutTransport(t, cuts(at))
	tr.after = func(_ int, resp *http.Response) { resp.Header.Del("ETag") }
	tg, _ := getTarget(t, tr, Options{}, "base/0001", data)
	got, err := readObject(waitCtx(t, time.Minute), tg, "base/0001")
	if err == nil || !strings.Contains(err.Error(), "no ETag") {
		t.Fatalf("read = %v; want a refusal to resume without an ETag", err)
	}
	if !bytes.Equal(got, data[:at]) {
		t.Fatalf("read %d bytes before failing; want the first %d of the object", len(got), at)
	}
	if n := len(tr.requests()); n != 1 {
		t.Fatalf("%d GETs; want one", n)
	}
}

// The reader Get returns seeks: far moves ask the store for the object
// from the new place (a ranged GET naming the first answer's ETag), short
// forward ones read through, and every read after a seek gives the
// object's bytes at that place, from the start, the current position or
// the end.
func TestS3TargetGetSeeks(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	tr := newCutTransport(t, cuts())
	tg, _ := getTarget(t, tr, Options{}, "obj", data)
	ctx := waitCtx(t, time.Minute)
	rc, err := tg.Get(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sk, ok := rc.(io.Seeker)
	if !ok {
		t.Fatal("Get's reader does not seek")
	}
	readAt := func(what string, off int64, whence int, want int64, n int) {
		t.Helper()
		got, err := sk.Seek(off, whence)
		if err != nil || got != want {
			t.Fatalf("%s: seek gives %d %v, want %d", what, got, err, want)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc, buf); err != nil {
			t.Fatalf("%s: read: %v", what, err)
		}
		if !bytes.Equal(buf, data[want:want+int64(n)]) {
			t.Fatalf("%s: read the wrong bytes", what)
		}
	}
	readAt("start", 0, io.SeekStart, 0, 10)
	if end, err := sk.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Fatalf("the end is at %d %v, want %d", end, err, len(data))
	}
	readAt("back from a look at the length", 10, io.SeekStart, 10, 0)
	readAt("short skip", 1000, io.SeekCurrent, 1010, 100)
	if n := len(tr.requests()); n != 1 {
		t.Errorf("a look at the length and a short skip sent %d GETs in all, want 1", n)
	}
	readAt("far", 2<<20, io.SeekStart, 2<<20, 100)
	readAt("from the end", -5, io.SeekEnd, int64(len(data))-5, 5)
	readAt("back", 3, io.SeekStart, 3, 4096)
	reqs := tr.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d GETs, want 4 (the first and three far seeks)", len(reqs))
	}
	for i, r := range reqs[1:] {
		if r.Header.Get("If-Match") == "" {
			t.Errorf("GET %d after a seek names no ETag", i+1)
		}
	}
	if got := reqs[1].Header.Get("Range"); got != "bytes=2097152-" {
		t.Errorf("the far seek's GET asks for %q", got)
	}
	if _, err := sk.Seek(int64(len(data))+10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := rc.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("a read past the end gives %d, %v; want 0, EOF", n, err)
	}
	if _, err := sk.Seek(-1, io.SeekStart); err == nil {
		t.Error("a seek before the start succeeded")
	}
}
