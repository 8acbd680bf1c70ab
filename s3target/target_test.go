package s3target

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// moto accepts any credentials unless its IAM checks are switched on.
const motoKey, motoSecret = "test-key", "test-secret"

// bucketSeq names the buckets tests make, unique within the process.
var bucketSeq atomic.Int64

// newBucket makes an empty bucket on s and returns its name.
func newBucket(t testing.TB, s *motoServer) string {
	t.Helper()
	c := storeClient(t, s)
	name := fmt.Sprintf("keeper-test-%d", bucketSeq.Add(1))
	if err := c.MakeBucket(waitCtx(t, 30*time.Second), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return name
}

// storeClient returns a client of s that goes around the Target, to see
// what the store holds.
func storeClient(t testing.TB, s *motoServer) minio.Core {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(motoKey, motoSecret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return minio.Core{Client: c}
}

// newTarget returns a Target on a new bucket of s, under prefix.
func newTarget(t testing.TB, s *motoServer, bucket, prefix string) *Target {
	t.Helper()
	return newTargetWith(t, Options{Endpoint: s.Endpoint, Bucket: bucket, Prefix: prefix})
}

// newTargetWith returns a Target made from opts with moto's region and
// credentials, which checks its bucket and which t's cleanup closes.
func newTargetWith(t testing.TB, opts Options) *Target {
	t.Helper()
	opts.Region, opts.AccessKey, opts.SecretKey, opts.CheckBucket = "us-east-1", motoKey, motoSecret, true
	tg, err := New(waitCtx(t, 30*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func TestS3TargetConformance(t *testing.T) {
	s := sharedMoto(t)
	keepertest.TestTarget(t, func(t *testing.T) keeper.Target {
		return newTarget(t, s, newBucket(t, s), "")
	})
	// Under prefixes of one bucket, beside each other and beside another
	// object: keeper/p1 must not list keeper/p10's objects.
	bucket := newBucket(t, s)
	other := newTarget(t, s, bucket, "keeper")
	if err := other.Put(waitCtx(t, 30*time.Second), "wal/0001.seg", bytes.NewReader([]byte("other"))); err != nil {
		t.Fatal(err)
	}
	var seq atomic.Int64
	keepertest.TestTarget(t, func(t *testing.T) keeper.Target {
		return newTarget(t, s, bucket, fmt.Sprintf("keeper/p%d", seq.Add(1)))
	})
}

func TestS3TargetNoBucket(t *testing.T) {
	s := sharedMoto(t)
	_, err := New(waitCtx(t, 30*time.Second), Options{
		Endpoint: s.Endpoint, Bucket: "missing", Region: "us-east-1",
		AccessKey: motoKey, SecretKey: motoSecret, CheckBucket: true,
	})
	if !errors.Is(err, ErrNoBucket) {
		t.Fatalf("New on a missing bucket = %v; want ErrNoBucket", err)
	}
	// Without CheckBucket, New does not dial and the calls report it.
	tg, err := New(waitCtx(t, 30*time.Second), Options{
		Endpoint: s.Endpoint, Bucket: "missing", Region: "us-east-1",
		AccessKey: motoKey, SecretKey: motoSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Put(waitCtx(t, 30*time.Second), "base/0001", bytes.NewReader([]byte("x"))); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("Put to a missing bucket = %v; want ErrNoBucket", err)
	}
	if _, err := tg.List(waitCtx(t, 30*time.Second), ""); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("List of a missing bucket = %v; want ErrNoBucket", err)
	}
}

// moto checks credentials only with its IAM emulation on, which
// INITIAL_NO_AUTH_ACTION_COUNT=0 does; it then knows no access key, so
// every key is refused.
func TestS3TargetAccessDenied(t *testing.T) {
	s := newMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT=0")
	_, err := New(waitCtx(t, 30*time.Second), Options{
		Endpoint: s.Endpoint, Bucket: "any", Region: "us-east-1",
		AccessKey: "AKIAWRONG", SecretKey: "wrong", CheckBucket: true,
	})
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("New with unknown credentials = %v; want ErrAccessDenied", err)
	}
}
