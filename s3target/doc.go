// Package s3target keeps a keeper archive in an S3-compatible object store:
// Amazon S3, MinIO, Ceph RGW, or any store that speaks the S3 API with
// version 4 signatures.
//
//	tg, err := s3target.New(ctx, s3target.Options{
//		Endpoint:  "s3.eu-west-1.amazonaws.com",
//		Bucket:    "backups",
//		Prefix:    "keeper/prod",
//		Region:    "eu-west-1",
//		AccessKey: id,
//		SecretKey: secret,
//		Secure:    true,
//	})
//
// It talks to the store through github.com/minio/minio-go/v7, which was
// chosen over gocloud.dev/blob for its footprint (about a fifth of the
// packages and binary size, no other cloud's SDK) and because it can send
// the conditional write put-if-absent needs.
//
// # Guarantees
//
// Put sends "If-None-Match: *": the store itself refuses a second object
// of one name, so two archivers racing for a name cannot overwrite each
// other, on stores that honour conditional writes (Amazon S3 since 2024,
// MinIO, moto). A store that ignores the header lets the last Put win;
// keeper's objects are immutable and named for their content's position,
// so the loser's bytes equal the winner's in normal use, but a store
// without conditional writes gives no protection against two clusters
// archiving into one prefix. An object that fits in one part
// (Options.PartSize, 16 MiB by default) is read into memory and sent as
// one PUT; a larger one streams as a multipart upload, about one part in
// memory at a time, whose completion carries the header (Amazon S3 and
// moto honour it there). Either way a failed Put leaves nothing: a reader
// that fails half way sends no object, and a failed multipart upload is
// aborted, its parts removed. A Put whose answer was lost and whose retry
// finds the object reports keeper.ErrTargetExists, as if another archiver
// had written it; Get reads the body as it streams and does not retry a
// read that fails part way.
//
// # Errors and retries
//
// A missing object matches keeper.ErrTargetNotFound, a taken name
// keeper.ErrTargetExists, a missing bucket ErrNoBucket, refused
// credentials ErrAccessDenied. Transient failures (5xx and 429 answers,
// refused or broken connections) are retried with exponential backoff
// until the call's context ends, or for Options.RetryFor when it has no
// deadline; other 4xx answers are not retried. The error after the last
// try wraps both the store's error and the context's.
//
// # Resources
//
// New does not dial unless Options.CheckBucket is set. The Target starts
// no goroutines; Close releases the idle connections of the transport it
// made.
package s3target
