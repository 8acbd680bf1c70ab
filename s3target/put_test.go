package s3target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/minio/minio-go/v7"
)

// partTarget returns a Target on bucket, reached through endpoint, that
// sends objects larger than S3's least part size in parts of that size.
func partTarget(t testing.TB, endpoint, bucket string) *Target {
	t.Helper()
	return newTargetWith(t, Options{Endpoint: endpoint, Bucket: bucket, PartSize: minPartSize})
}

// payload returns n bytes from seed, different for each seed.
func payload(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// wantStored fails t unless the object name in bucket holds want, joined
// from parts parts; 1 means one PUT. The store's ETag says which: a
// multipart object's ends in "-" and its number of parts.
func wantStored(t *testing.T, s *motoServer, bucket, name string, want []byte, parts int) {
	t.Helper()
	c := storeClient(t, s)
	rc, info, _, err := c.GetObject(waitCtx(t, time.Minute), bucket, name, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes that differ from the %d put", name, len(got), len(want))
	}
	wantTag := ""
	if parts > 1 {
		wantTag = strconv.Itoa(parts)
	}
	if _, tag, _ := strings.Cut(strings.Trim(info.ETag, `"`), "-"); tag != wantTag {
		t.Fatalf("%s has ETag %s; want one made of %d parts", name, info.ETag, parts)
	}
}

// wantNothingLeft fails t if bucket holds the object name or an upload in
// progress.
func wantNothingLeft(t *testing.T, s *motoServer, bucket, name string) {
	t.Helper()
	c := storeClient(t, s)
	_, err := c.StatObject(waitCtx(t, time.Minute), bucket, name, minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
		t.Fatalf("stat %s after a failed Put = %v; want not found", name, err)
	}
	wantUploads(t, s, bucket, 0)
}

// wantUploads fails t unless bucket has n uploads in progress.
func wantUploads(t *testing.T, s *motoServer, bucket string, n int) {
	t.Helper()
	res, err := storeClient(t, s).ListMultipartUploads(waitCtx(t, time.Minute), bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatalf("list uploads: %v", err)
	}
	if len(res.Uploads) != n {
		t.Fatalf("%d uploads in progress; want %d: %+v", len(res.Uploads), n, res.Uploads)
	}
}

// isPart reports whether r sends part n of an upload.
func isPart(r *http.Request, n int) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == strconv.Itoa(n)
}

// isComplete reports whether r completes an upload.
func isComplete(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// Objects up to one part go as one PUT, larger ones in parts, the last of
// which may be full or one byte; all read back as put. A taken name stays
// as it was, whether the second Put is one PUT or parts, and leaves no
// upload behind.
func TestS3TargetPutMultipart(t *testing.T) {
	s := sharedMoto(t)
	bucket := newBucket(t, s)
	tg := partTarget(t, s.Endpoint, bucket)
	ctx := waitCtx(t, 5*time.Minute)
	objects := []struct {
		size, parts int
	}{
		{minPartSize, 1},
		{minPartSize + 1, 2},
		{2 * minPartSize, 2},
		{2*minPartSize + minPartSize/5, 3},
	}
	for i, o := range objects {
		name := fmt.Sprintf("base/%04d", i)
		data := payload(uint64(i), o.size)
		// Short reads, so that parts are filled by many of them.
		if err := tg.Put(ctx, name, iotest.HalfReader(bytes.NewReader(data))); err != nil {
			t.Fatalf("Put of %d bytes: %v", o.size, err)
		}
		wantStored(t, s, bucket, name, data, o.parts)
	}
	objs, err := tg.List(ctx, "base/")
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs {
		if o.Size != int64(objects[i].size) {
			t.Errorf("List: %s has size %d; want %d", o.Name, o.Size, objects[i].size)
		}
	}
	for _, c := range []struct {
		name, over string
		size       int
	}{
		{"parts over parts", "base/0003", 2*minPartSize + minPartSize/5},
		{"parts over one PUT", "base/0000", 2*minPartSize + minPartSize/5},
		{"one PUT over parts", "base/0003", 1000},
	} {
		err := tg.Put(ctx, c.over, bytes.NewReader(payload(99, c.size)))
		// The store itself refused the name, on the completion for parts.
		var resp minio.ErrorResponse
		if !errors.Is(err, keeper.ErrTargetExists) || !errors.As(err, &resp) || resp.StatusCode != http.StatusPreconditionFailed {
			t.Fatalf("%s: Put of a taken name = %v; want ErrTargetExists from a 412", c.name, err)
		}
	}
	wantStored(t, s, bucket, "base/0000", payload(0, objects[0].size), 1)
	wantStored(t, s, bucket, "base/0003", payload(3, objects[3].size), 3)
	wantUploads(t, s, bucket, 0)
}

var errBroken = errors.New("broken source")

// cancelReader cancels a context on its first read and reports the
// context's end.
type cancelReader struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (c cancelReader) Read([]byte) (int, error) {
	c.cancel()
	return 0, c.ctx.Err()
}

// A Put that fails after some parts went up leaves no object and no
// upload, whether its reader fails, its context ends while it reads or
// while it sends a part, or the store refuses a part; the error says
// which.
func TestS3TargetPutMultipartAborts(t *testing.T) {
	s := sharedMoto(t)
	bucket := newBucket(t, s)
	// The listing of uploads that the checks rely on sees one.
	c := storeClient(t, s)
	id, err := c.NewMultipartUpload(waitCtx(t, time.Minute), bucket, "probe", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantUploads(t, s, bucket, 1)
	if err := c.AbortMultipartUpload(waitCtx(t, time.Minute), bucket, "probe", id); err != nil {
		t.Fatal(err)
	}
	wantUploads(t, s, bucket, 0)

	// Two full parts go up before the third fails.
	data := payload(1, 2*minPartSize+1000)
	var cancelPart atomic.Pointer[context.CancelFunc]
	var refusePart atomic.Bool
	p := newHookProxy(t, s, func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if isPart(r, 2) {
			if cancel := cancelPart.Swap(nil); cancel != nil {
				// The Put's context ends while the part is on its way:
				// the client drops the connection, which ends the read of
				// the body, or the wait for a next request once the body
				// is read.
				(*cancel)()
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
				return
			}
			if refusePart.Swap(false) {
				writeError(w, http.StatusBadRequest, "InvalidArgument")
				return
			}
		}
		forward.ServeHTTP(w, r)
	})
	tg := partTarget(t, proxyEndpoint(p), bucket)

	t.Run("ReaderFails", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBroken))
		err := tg.Put(waitCtx(t, time.Minute), "base/0001", r)
		if !errors.Is(err, errBroken) {
			t.Fatalf("Put from a reader that fails = %v; want the reader's error", err)
		}
		wantNothingLeft(t, s, bucket, "base/0001")
	})
	t.Run("CancelledReading", func(t *testing.T) {
		ctx, cancel := context.WithCancel(waitCtx(t, time.Minute))
		defer cancel()
		err := tg.Put(ctx, "base/0002", io.MultiReader(bytes.NewReader(data), cancelReader{ctx, cancel}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled while reading = %v; want context.Canceled", err)
		}
		wantNothingLeft(t, s, bucket, "base/0002")
	})
	t.Run("CancelledSending", func(t *testing.T) {
		ctx, cancel := context.WithCancel(waitCtx(t, time.Minute))
		defer cancel()
		cancelPart.Store(&cancel)
		err := tg.Put(ctx, "base/0003", bytes.NewReader(data))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled while sending a part = %v; want context.Canceled", err)
		}
		if cancelPart.Load() != nil {
			t.Fatal("the Put never sent its second part")
		}
		wantNothingLeft(t, s, bucket, "base/0003")
	})
	t.Run("PartRefused", func(t *testing.T) {
		refusePart.Store(true)
		err := tg.Put(waitCtx(t, time.Minute), "base/0004", bytes.NewReader(data))
		var resp minio.ErrorResponse
		if errors.Is(err, keeper.ErrTargetExists) || !errors.As(err, &resp) || resp.Code != "InvalidArgument" {
			t.Fatalf("Put with a part refused = %v; want the store's InvalidArgument", err)
		}
		wantNothingLeft(t, s, bucket, "base/0004")
	})
}

// Transient failures of a part or of the completion are retried: a part
// is sent again from its buffer, and a completion whose answer was lost
// either succeeds on its retry (moto, like Amazon S3, completes an upload
// twice without harm) or, when the retry finds the upload gone and the
// object there, reports ErrTargetExists as a lost single PUT does.
func TestS3TargetPutMultipartRetries(t *testing.T) {
	s := sharedMoto(t)
	bucket := newBucket(t, s)
	var failPart, loseComplete, goneComplete, partTries, completed atomic.Int64
	p := newHookProxy(t, s, func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		switch {
		case isPart(r, 2):
			partTries.Add(1)
			if failPart.Add(-1) >= 0 {
				writeError(w, http.StatusServiceUnavailable, "SlowDown")
				return
			}
		case isComplete(r) && goneComplete.Load() > 0 && loseComplete.Load() == 0:
			goneComplete.Add(-1)
			writeError(w, http.StatusNotFound, "NoSuchUpload")
			return
		case isComplete(r) && loseComplete.Add(-1) >= 0:
			rec := httptest.NewRecorder()
			forward.ServeHTTP(rec, r)
			if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), "<Error>") {
				completed.Add(1)
			}
			writeError(w, http.StatusInternalServerError, "InternalError")
			return
		}
		forward.ServeHTTP(w, r)
	})
	tg := partTarget(t, proxyEndpoint(p), bucket)

	t.Run("Part", func(t *testing.T) {
		failPart.Store(2)
		partTries.Store(0)
		data := payload(1, minPartSize+1000)
		if err := tg.Put(waitCtx(t, time.Minute), "base/0001", bytes.NewReader(data)); err != nil {
			t.Fatalf("Put through two failures of a part: %v", err)
		}
		if n := partTries.Load(); n != 3 {
			t.Fatalf("part 2 sent %d times; want 2 failures and 1 success", n)
		}
		wantStored(t, s, bucket, "base/0001", data, 2)
	})
	t.Run("CompleteAnswerLost", func(t *testing.T) {
		loseComplete.Store(1)
		completed.Store(0)
		data := payload(2, minPartSize+1000)
		if err := tg.Put(waitCtx(t, time.Minute), "base/0002", bytes.NewReader(data)); err != nil {
			t.Fatalf("Put whose completion's answer was lost: %v", err)
		}
		if completed.Load() != 1 {
			t.Fatal("the completion whose answer was lost did not reach the store")
		}
		wantStored(t, s, bucket, "base/0002", data, 2)
		wantUploads(t, s, bucket, 0)
	})
	t.Run("CompleteAnswerLostUploadGone", func(t *testing.T) {
		loseComplete.Store(1)
		goneComplete.Store(1)
		completed.Store(0)
		data := payload(3, minPartSize+1000)
		err := tg.Put(waitCtx(t, time.Minute), "base/0003", bytes.NewReader(data))
		if !errors.Is(err, keeper.ErrTargetExists) {
			t.Fatalf("Put whose completion's retry found the upload gone = %v; want ErrTargetExists", err)
		}
		if completed.Load() != 1 || goneComplete.Load() != 0 {
			t.Fatal("the completion was not lost and then found gone")
		}
		wantStored(t, s, bucket, "base/0003", data, 2)
		wantUploads(t, s, bucket, 0)
	})
}

// New refuses part sizes S3 refuses.
func TestS3TargetPartSizeBounds(t *testing.T) {
	for _, size := range []int{-1, minPartSize - 1, maxPartSize + 1} {
		_, err := New(context.Background(), Options{Endpoint: "127.0.0.1:1", Bucket: "b", PartSize: size})
		if !errors.Is(err, keeper.ErrBadArguments) {
			t.Errorf("New with PartSize %d = %v; want ErrBadArguments", size, err)
		}
	}
}

// readPart fills a part from short reads and reads one byte past it, no
// more, when the reader goes on.
func TestReadPart(t *testing.T) {
	const size = 10
	for n := 0; n <= 2*size+1; n++ {
		data := payload(uint64(n), n)
		r := iotest.OneByteReader(bytes.NewReader(data))
		buf, err := readPart(r, nil, size)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if want := data[:min(n, size+1)]; !bytes.Equal(buf, want) {
			t.Fatalf("%d bytes: first part %x; want %x", n, buf, want)
		}
		if n <= size {
			continue
		}
		buf, err = readPart(r, append(buf[:0], buf[size]), size)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if want := data[size:min(n, 2*size+1)]; !bytes.Equal(buf, want) {
			t.Fatalf("%d bytes: second part %x; want %x", n, buf, want)
		}
	}
	// The buffer doubles from 64 KiB straight to a part and one byte:
	// 64, 128 and 256 KiB + 1, never a part twice.
	big := payload(1, 300<<10)
	br := bytes.NewReader(big)
	if n := testing.AllocsPerRun(10, func() {
		br.Reset(big)
		readPart(br, nil, 256<<10)
	}); n != 3 {
		t.Errorf("readPart of more than a part of 256 KiB made %v allocations; want 3", n)
	}
	buf, err := readPart(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(errBroken)), nil, size)
	if !errors.Is(err, errBroken) || string(buf) != "abc" {
		t.Fatalf("readPart of a failing reader = %q, %v; want abc and its error", buf, err)
	}
}

// BenchmarkS3TargetPut64MiB puts a 64 MiB object, generated as it is
// read, in parts of the default 16 MiB, and reports the peak growth of
// the heap during the Put (garbage included) as peak-heap-B: about one
// and a half parts, where reading the whole object first would take
// 64 MiB and more.
func BenchmarkS3TargetPut64MiB(b *testing.B) {
	const size = 64 << 20
	s := sharedMoto(b)
	tg := newTarget(b, s, newBucket(b, s), "")
	ctx := waitCtx(b, 30*time.Minute)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak uint64
	for i := range b.N {
		src := io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), size)
		peak = max(peak, heapGrowth(func() {
			if err := tg.Put(ctx, "base/0001", src); err != nil {
				b.Fatal(err)
			}
		}))
		b.StopTimer()
		if err := tg.Delete(ctx, "base/0001"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak), "peak-heap-B")
}

// heapGrowth runs f and returns how far the bytes of the heap's objects,
// sampled every millisecond, rose above where they were before it.
func heapGrowth(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	peak := base
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return max(peak, read()) - base
}
