package s3target

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/keeper-go/keeper"
	"github.com/minio/minio-go/v7"
)

var (
	// ErrNoBucket reports that the bucket named in Options does not exist.
	ErrNoBucket = errors.New("s3target: no such bucket")
	// ErrAccessDenied reports that the store refused the credentials or
	// denied them the operation.
	ErrAccessDenied = errors.New("s3target: access denied")
	// ErrObjectChanged reports a read that, resuming after a broken
	// connection, found another object under the name than the one it
	// began to read: deleted and put again with other bytes. keeper never
	// rewrites an object, so the name no longer holds what it held, and
	// the bytes already read cannot be completed; ErrObjectChanged
	// therefore matches keeper.ErrArchiveCorrupt, which keeper's readers
	// already treat as an object never to apply.
	ErrObjectChanged = fmt.Errorf("s3target: object changed during a read: %w", keeper.ErrArchiveCorrupt)
)

// classify turns an error from the store into one that matches the
// keeper and s3target sentinels, and reports whether trying again may
// help.
func classify(op, name string, err error) (error, bool) {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == 0 && resp.Code == "":
		return fmt.Errorf("s3target: %s %s: %w", op, name, err), transientNet(err)
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("%w: %s %s: %w", ErrNoBucket, op, name, err), false
	case resp.Code == "NoSuchKey" || (op == "get" && resp.StatusCode == http.StatusNotFound):
		return fmt.Errorf("%w: %s: %w", keeper.ErrTargetNotFound, name, err), false
	case op == "get" && resp.StatusCode == http.StatusPreconditionFailed:
		// Only a resumed read sends a condition: If-Match.
		return fmt.Errorf("%w: %s: %w", ErrObjectChanged, name, err), false
	case resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %s: %w", keeper.ErrTargetExists, name, err), false
	case resp.StatusCode == http.StatusForbidden, resp.Code == "AccessDenied",
		resp.Code == "InvalidAccessKeyId", resp.Code == "SignatureDoesNotMatch":
		return fmt.Errorf("%w: %s %s: %w", ErrAccessDenied, op, name, err), false
	}
	transient := resp.StatusCode >= 500 ||
		resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusRequestTimeout ||
		// Amazon S3 answers 409 to a conditional write that raced another
		// one still in progress; the retry learns which won.
		resp.Code == "ConditionalRequestConflict" ||
		resp.Code == "SlowDown" || resp.Code == "RequestTimeout"
	return fmt.Errorf("s3target: %s %s: %w", op, name, err), transient
}

// transientNet reports whether err, not an answer from the store, is a
// network failure worth another try.
func transientNet(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A certificate the client refuses stays refused.
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
