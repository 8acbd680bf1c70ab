package s3target

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/keeper-go/keeper"
	"github.com/minio/minio-go/v7"
)

// Get opens the object called name. The reader streams the object; when
// the connection breaks part way, it asks again for the rest, from the
// first byte not yet delivered, with the retries and backoff of the other
// calls. Each resumption has its own time for retries, as a call does
// (until ctx's deadline, or Options.RetryFor when ctx has none), so a
// read that keeps making progress never gives up. A resumption names the
// ETag of the first answer (If-Match): if another object has taken the
// name since the read began, the read fails with ErrObjectChanged rather
// than join the bytes of two objects. A cancelled ctx ends the read and
// its retries. Read and Close must not be called concurrently.
func (t *Target) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := keeper.CheckTargetName(name); err != nil {
		return nil, err
	}
	// The body streams after Get returns, so its requests live on the
	// caller's context until Close, not on the retry's, which ends with
	// Get.
	r := &objectReader{t: t, ctx: ctx, name: name, size: -1}
	r.bctx, r.cancel = context.WithCancel(ctx)
	err := t.retry(ctx, "get", name, func(ctx context.Context) error {
		detach, err := r.open(ctx)
		if err != nil {
			return err
		}
		if !detach() {
			r.closeBody()
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		r.cancel()
		return nil, err
	}
	return r, nil
}

// objectReader is the reader Get returns: an object's bytes, read over as
// many requests as broken connections make necessary.
type objectReader struct {
	t    *Target
	name string
	// ctx is the caller's; it bounds the retries. bctx, its child, lives
	// until Close and is the parent of every request.
	ctx    context.Context
	bctx   context.Context
	cancel context.CancelFunc

	started bool   // the store has answered once
	etag    string // of the first answer; every later request must match it
	size    int64  // the object's length, or -1 if the store did not say
	off     int64  // bytes delivered to the caller, or the place a move put the read at
	to      int64  // where a Seek asked the next Read to read from
	moving  bool   // a Seek asked for a place other than off

	body    io.ReadCloser // nil between a broken connection and the next request
	endBody context.CancelFunc
	err     error // once set, every Read returns it
}

// open requests the object from r.off on. The request ends with ctx, the
// retry's, until the caller calls detach; then the body lives on r.bctx.
// detach reports false if ctx ended first, and the body with it.
func (r *objectReader) open(ctx context.Context) (detach func() bool, err error) {
	var opts minio.GetObjectOptions
	if r.started {
		if r.etag == "" {
			return nil, fmt.Errorf("cannot resume at byte %d: the store named no ETag to ask for the same object by", r.off)
		}
		if err := opts.SetMatchETag(r.etag); err != nil {
			return nil, err
		}
		if r.off > 0 {
			if err := opts.SetRange(r.off, 0); err != nil {
				return nil, err
			}
		}
	}
	actx, acancel := context.WithCancel(r.bctx)
	detach = context.AfterFunc(ctx, acancel)
	body, info, header, err := r.t.core.GetObject(actx, r.t.bucket, r.t.prefix+r.name, opts)
	if err == nil {
		err = r.check(info, header)
	}
	if err != nil {
		if body != nil {
			body.Close()
		}
		detach()
		acancel()
		return nil, err
	}
	if !r.started {
		r.started, r.etag, r.size = true, info.ETag, info.Size
	}
	r.body, r.endBody = body, acancel
	return detach, nil
}

// check makes sure that a resumed answer holds the rest of the object the
// read began with: the same ETag, and the range asked for.
func (r *objectReader) check(info minio.ObjectInfo, header http.Header) error {
	if !r.started {
		return nil
	}
	if info.ETag != r.etag {
		// A store that ignores If-Match: refuse as S3 would have.
		return minio.ErrorResponse{
			Code: "PreconditionFailed", StatusCode: http.StatusPreconditionFailed,
			Message: fmt.Sprintf("ETag %q, not %q", info.ETag, r.etag), Key: r.name,
		}
	}
	if r.off == 0 {
		return nil
	}
	got := header.Get("Content-Range")
	if r.size >= 0 && got != fmt.Sprintf("bytes %d-%d/%d", r.off, r.size-1, r.size) ||
		r.size < 0 && !strings.HasPrefix(got, fmt.Sprintf("bytes %d-", r.off)) {
		return fmt.Errorf("asked for the object from byte %d, the store answered Content-Range %q", r.off, got)
	}
	return nil
}

// Read reads the object's next bytes into p.
func (r *objectReader) Read(p []byte) (int, error) {
	if r.moving {
		if err := r.move(); err != nil {
			return 0, err
		}
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body != nil {
		n, err := r.next(p)
		if err != nil {
			r.end(err)
		}
		if n > 0 || r.err != nil || r.body != nil {
			return n, r.errAfter(n)
		}
	}
	// The connection broke before a byte of this Read: ask again.
	var n int
	err := r.t.retry(r.ctx, "get", r.name, func(ctx context.Context) error {
		detach, err := r.open(ctx)
		if err != nil {
			return err
		}
		for n == 0 && err == nil {
			n, err = r.next(p)
		}
		if !detach() {
			// The retries ended as the bytes came: any that came stand,
			// the body does not.
			r.closeBody()
			if n == 0 {
				return fmt.Errorf("no byte came before the retries ended: %w", ctx.Err())
			}
		}
		if n == 0 && err != io.EOF {
			r.closeBody()
			return err
		}
		if err != nil {
			r.end(err)
		}
		return nil
	})
	if err != nil {
		r.err = err
		return 0, err
	}
	return n, r.errAfter(n)
}

// next reads from the body into p. A body that ends before the object
// does ends with io.ErrUnexpectedEOF.
func (r *objectReader) next(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.size >= 0 && r.off < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// end closes the body after a Read's err, and keeps err for the Reads to
// come if it is final: the object's end, the caller's ctx ending, or a
// failure another request would not mend.
func (r *objectReader) end(err error) {
	r.closeBody()
	switch {
	case err == io.EOF:
		r.err = io.EOF
	case r.size >= 0 && r.off == r.size:
		// The connection broke after the last byte.
		r.err = io.EOF
	case r.ctx.Err() != nil:
		r.err = fmt.Errorf("s3target: get %s: %w", r.name, r.ctx.Err())
	default:
		if err, transient := classify("get", r.name, err); !transient {
			r.err = err
		}
	}
}

// errAfter is the error a Read that read n bytes returns: none if it read
// any, else the kept one.
func (r *objectReader) errAfter(n int) error {
	if n > 0 {
		return nil
	}
	return r.err
}

func (r *objectReader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.endBody()
		r.body, r.endBody = nil, nil
	}
}

// seekSkip is the farthest forward a move reads through the open body
// rather than ask the store again: a request costs a round trip, which
// reads about this much on a fast link.
const seekSkip = 256 << 10

// Seek moves the read to offset, as io.Seeker says. The move waits for
// the next Read, so a look at the length (Seek(0, io.SeekEnd)) and back
// costs nothing. Then a short way forward the read goes through the
// bytes between; elsewhere it asks the store for the object from there,
// naming the first answer's ETag as a resumption does. So a reader of a
// large object (a merged path index) reads the parts it needs. Seeking
// from the end needs the object's length, which the store's first answer
// gives.
func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	if r.err != nil && r.err != io.EOF {
		return 0, r.err
	}
	abs := offset
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		abs += r.position()
	case io.SeekEnd:
		if r.size < 0 {
			return 0, fmt.Errorf("s3target: seek from the end of %s: the store did not say its length", r.name)
		}
		abs += r.size
	default:
		return 0, fmt.Errorf("s3target: seek in %s: whence %d", r.name, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("s3target: seek in %s to %d: before the start", r.name, abs)
	}
	r.to, r.moving = abs, abs != r.off
	return abs, nil
}

// position is where the next Read reads from.
func (r *objectReader) position() int64 {
	if r.moving {
		return r.to
	}
	return r.off
}

// move makes the read go on from r.to, the place a Seek asked for.
func (r *objectReader) move() error {
	r.moving = false
	if d := r.to - r.off; d > 0 && d <= seekSkip && r.body != nil {
		_, err := io.CopyN(io.Discard, r, d)
		if err == io.EOF {
			r.off, r.err = r.to, io.EOF
			return nil
		}
		return err
	}
	r.closeBody()
	r.off, r.err = r.to, nil
	if r.size >= 0 && r.off >= r.size {
		r.err = io.EOF
	}
	return nil
}

// Close ends the read and its request.
func (r *objectReader) Close() error {
	r.closeBody()
	r.cancel()
	if r.err == nil || r.err == io.EOF {
		r.err = fmt.Errorf("s3target: get %s: %w", r.name, os.ErrClosed)
	}
	return nil
}
