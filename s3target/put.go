package s3target

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/ctxio"
	"github.com/minio/minio-go/v7"
)

// Limits S3 sets on multipart uploads, and the part size Put uses unless
// Options say otherwise.
const (
	minPartSize     = 5 << 20 // every part but the last
	maxPartSize     = 5 << 30
	maxParts        = 10_000
	defaultPartSize = 16 << 20
)

// Put stores the bytes of r under name unless an object has that name,
// holding one part (Options.PartSize) of r in memory at a time, and one
// and a half while the first part fills.
//
// An object that ends within its first part is sent as one PUT with
// "If-None-Match: *", so the store itself refuses a taken name. A larger
// one is sent as a multipart upload: each part is read once, kept until
// the store has it, and sent again on a transient failure; the parts are
// joined by a CompleteMultipartUpload that carries "If-None-Match: *" as
// well, which Amazon S3 and moto refuse with 412 when the name is taken,
// and Put then reports keeper.ErrTargetExists. On a store that honours
// the header on PUT but ignores it on CompleteMultipartUpload, the last
// Put larger than a part wins. When the reader fails, the context ends,
// the object would need more than 10,000 parts, or the store refuses a
// request, Put aborts the upload, so that no object is made and no parts
// stay behind; the abort runs even after the context ended, for at most
// Options.RetryFor. An abort that fails is reported beside Put's error,
// and the parts then stay until the bucket's lifecycle rules remove
// them; so does the empty upload a lost answer to the request that
// starts one leaves, since Put's retry starts another.
//
// A Put whose answer was lost and whose retry finds the object reports
// keeper.ErrTargetExists, as if another archiver had written it: a PUT's
// retry gets 412, and a CompleteMultipartUpload's retry that no longer
// finds its upload looks the object up.
func (t *Target) Put(ctx context.Context, name string, r io.Reader) error {
	if err := keeper.CheckTargetName(name); err != nil {
		return err
	}
	r = ctxio.Reader(ctx, r)
	buf, err := readPart(r, nil, t.partSize)
	if err != nil {
		return fmt.Errorf("s3target: put %s: read: %w", name, err)
	}
	if len(buf) <= t.partSize {
		return t.retry(ctx, "put", name, func(ctx context.Context) error {
			_, err := t.core.PutObject(ctx, t.bucket, t.prefix+name, bytes.NewReader(buf), int64(len(buf)), "", "", ifAbsent())
			return err
		})
	}
	return t.putParts(ctx, name, r, buf)
}

// ifAbsent returns the options of a write that the store refuses with 412
// when the object exists.
func ifAbsent() minio.PutObjectOptions {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return opts
}

// putParts sends the object whose first part+1 bytes are in buf and whose
// rest is in r as a multipart upload, and aborts the upload if it fails.
func (t *Target) putParts(ctx context.Context, name string, r io.Reader, buf []byte) (err error) {
	key := t.prefix + name
	var id string
	err = t.retry(ctx, "put", name, func(ctx context.Context) error {
		var err error
		id, err = t.core.NewMultipartUpload(ctx, t.bucket, key, minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = t.abort(ctx, name, id, err)
		}
	}()
	var parts []minio.CompletePart
	for {
		n := len(parts) + 1
		if n > maxParts {
			return fmt.Errorf("s3target: put %s: %w: larger than %d parts of %d bytes (Options.PartSize)", name, keeper.ErrBadArguments, maxParts, t.partSize)
		}
		part := buf[:min(len(buf), t.partSize)]
		var etag string
		err := t.retry(ctx, "put", name, func(ctx context.Context) error {
			p, err := t.core.PutObjectPart(ctx, t.bucket, key, id, n, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
			etag = p.ETag
			return err
		})
		if err != nil {
			return err
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: etag})
		if len(buf) <= t.partSize {
			return t.complete(ctx, name, id, parts)
		}
		// The byte past the part starts the next one.
		buf = append(buf[:0], buf[t.partSize])
		if buf, err = readPart(r, buf, t.partSize); err != nil {
			return fmt.Errorf("s3target: put %s: read: %w", name, err)
		}
	}
}

// complete joins the parts of upload id into the object called name,
// unless an object has that name.
func (t *Target) complete(ctx context.Context, name, id string, parts []minio.CompletePart) error {
	opts := ifAbsent()
	sent := false
	return t.retry(ctx, "put", name, func(ctx context.Context) error {
		_, err := t.core.CompleteMultipartUpload(ctx, t.bucket, t.prefix+name, id, parts, opts)
		if err != nil && sent && minio.ToErrorResponse(err).Code == "NoSuchUpload" {
			// An earlier try may have completed the upload with its
			// answer lost; Amazon S3 also ends an upload whose completion
			// conflicted with another write.
			_, serr := t.core.StatObject(ctx, t.bucket, t.prefix+name, minio.StatObjectOptions{})
			switch {
			case serr == nil:
				return fmt.Errorf("%w: %s: the upload ended and the object exists: %w", keeper.ErrTargetExists, name, err)
			case minio.ToErrorResponse(serr).StatusCode != http.StatusNotFound:
				return serr
			}
		}
		sent = true
		return err
	})
}

// abort ends upload id after its Put failed with err, and returns err,
// with the abort's own failure beside it. The abort outlives ctx, so
// that a cancelled Put still takes its parts away.
func (t *Target) abort(ctx context.Context, name, id string, err error) error {
	aerr := t.retry(context.WithoutCancel(ctx), "abort upload of", name, func(actx context.Context) error {
		err := t.core.AbortMultipartUpload(actx, t.bucket, t.prefix+name, id)
		if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
			return nil
		}
		return err
	})
	if aerr != nil {
		return fmt.Errorf("%w (its uploaded parts stay behind: %v)", err, aerr)
	}
	return err
}

// readPart reads from r onto the end of buf until buf holds size+1 bytes
// or r ends, and returns buf: a byte past size says that r goes on after
// the part. buf doubles as it fills, so an object smaller than a part
// costs at most twice its size, and a larger one one and a half parts
// while its first part fills.
func readPart(r io.Reader, buf []byte, size int) ([]byte, error) {
	for len(buf) <= size {
		if len(buf) == cap(buf) {
			n := max(2*cap(buf), 64<<10)
			if n >= size {
				n = size + 1
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), size+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
