package s3target

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Options say where a Target keeps its objects. Endpoint and Bucket are
// required; zero values of the others mean what each field says.
type Options struct {
	// Endpoint is the store's host and optional port, without a scheme:
	// "s3.amazonaws.com", "127.0.0.1:9000".
	Endpoint string
	// Bucket is the bucket that holds the objects. It must exist.
	Bucket string
	// Prefix, if set, is a folder inside the bucket: an object called
	// name is stored under the key Prefix + "/" + name. It follows the
	// rules of keeper.CheckTargetName.
	Prefix string
	// Region is the bucket's region. If empty, the client asks the store
	// once, before the first request.
	Region string
	// AccessKey and SecretKey sign requests. Both empty means anonymous
	// requests.
	AccessKey, SecretKey string
	// Secure selects https; the default is plain http.
	Secure bool
	// Transport carries the requests. If nil, the Target makes its own,
	// and Close releases its idle connections.
	Transport http.RoundTripper
	// CheckBucket makes New ask the store whether the bucket exists and
	// the credentials reach it, returning ErrNoBucket or ErrAccessDenied
	// if not. Without it New does not dial.
	CheckBucket bool
	// RetryFor bounds how long a call retries transient failures when its
	// context has no deadline. The default is one minute.
	RetryFor time.Duration
	// PartSize is the size in bytes of the parts Put sends an object in
	// when it is larger than one part; Put holds one part in memory, and
	// one and a half while the first part fills. The default is 16 MiB. S3
	// wants at least 5 MiB in every part but the last, at most 5 GiB in a
	// part and at most 10,000 parts, so the largest object Put takes is
	// 10,000 parts of PartSize (156 GiB at the default). New refuses a
	// PartSize under 5 MiB or over 5 GiB with keeper.ErrBadArguments.
	PartSize int
}

// Target is a keeper.Target on an S3-compatible store. It is safe for
// concurrent use.
type Target struct {
	core     minio.Core
	bucket   string
	prefix   string
	retryFor time.Duration
	partSize int
	owned    *http.Transport
}

var _ keeper.Target = (*Target)(nil)

// New returns a Target for opts. It returns an error matching
// keeper.ErrBadArguments for incomplete options and, when
// opts.CheckBucket is set, ErrNoBucket or ErrAccessDenied.
func New(ctx context.Context, opts Options) (*Target, error) {
	if opts.Endpoint == "" || strings.Contains(opts.Endpoint, "://") {
		return nil, fmt.Errorf("s3target: %w: Endpoint %q: want host[:port] without a scheme", keeper.ErrBadArguments, opts.Endpoint)
	}
	if opts.Bucket == "" {
		return nil, fmt.Errorf("s3target: %w: Bucket is empty", keeper.ErrBadArguments)
	}
	if opts.Prefix != "" {
		if err := keeper.CheckTargetName(opts.Prefix); err != nil {
			return nil, fmt.Errorf("s3target: Prefix: %w", err)
		}
	}
	switch {
	case opts.PartSize == 0:
		opts.PartSize = defaultPartSize
	case opts.PartSize < minPartSize || int64(opts.PartSize) > maxPartSize:
		return nil, fmt.Errorf("s3target: %w: PartSize %d: want between %d and %d bytes", keeper.ErrBadArguments, opts.PartSize, minPartSize, int64(maxPartSize))
	}
	t := &Target{bucket: opts.Bucket, retryFor: opts.RetryFor, partSize: opts.PartSize}
	if opts.Prefix != "" {
		t.prefix = opts.Prefix + "/"
	}
	if t.retryFor <= 0 {
		t.retryFor = time.Minute
	}
	rt := opts.Transport
	if rt == nil {
		tr, err := minio.DefaultTransport(opts.Secure)
		if err != nil {
			return nil, fmt.Errorf("s3target: transport: %w", err)
		}
		t.owned, rt = tr, tr
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" || opts.SecretKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	c, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:     creds,
		Secure:    opts.Secure,
		Region:    opts.Region,
		Transport: rt,
		// One try per call: the Target retries itself, so that it knows
		// which answers are final.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3target: %w: %w", keeper.ErrBadArguments, err)
	}
	t.core = minio.Core{Client: c}
	if opts.CheckBucket {
		if err := t.checkBucket(ctx); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// Close releases the idle connections of the transport the Target made.
// The Target must not be used after Close.
func (t *Target) Close() error {
	if t.owned != nil {
		t.owned.CloseIdleConnections()
	}
	return nil
}

func (t *Target) checkBucket(ctx context.Context) error {
	return t.retry(ctx, "check bucket", t.bucket, func(ctx context.Context) error {
		ok, err := t.core.BucketExists(ctx, t.bucket)
		if err == nil && !ok {
			return minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: http.StatusNotFound, BucketName: t.bucket}
		}
		return err
	})
}

// List returns the objects whose names start with prefix, sorted by name.
func (t *Target) List(ctx context.Context, prefix string) ([]keeper.TargetObject, error) {
	var out []keeper.TargetObject
	err := t.retry(ctx, "list", prefix, func(ctx context.Context) error {
		out = out[:0]
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for o := range t.core.ListObjectsIter(ctx, t.bucket, minio.ListObjectsOptions{Prefix: t.prefix + prefix, Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
			out = append(out, keeper.TargetObject{Name: strings.TrimPrefix(o.Key, t.prefix), Size: o.Size})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b keeper.TargetObject) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes the object called name; a missing object is no error.
func (t *Target) Delete(ctx context.Context, name string) error {
	if err := keeper.CheckTargetName(name); err != nil {
		return err
	}
	return t.retry(ctx, "delete", name, func(ctx context.Context) error {
		return t.core.RemoveObject(ctx, t.bucket, t.prefix+name, minio.RemoveObjectOptions{})
	})
}
