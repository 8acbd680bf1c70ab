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
// had written it.
//
// Get's reader resumes: when the connection breaks part way through an
// object, it asks for the rest with a ranged GET from the first byte not
// yet delivered, retrying as the other calls do, so the caller sees the
// object's bytes exactly once and in order. Every resumption carries
// "If-Match" with the ETag of the first answer; an object deleted and put
// again with other bytes since the read began fails the read with
// ErrObjectChanged, which matches keeper.ErrArchiveCorrupt, rather than
// join two objects' bytes. A stall of a body already streaming is not
// detected; the caller's ctx bounds it.
//
// # Errors and retries
//
// A missing object matches keeper.ErrTargetNotFound, a taken name
// keeper.ErrTargetExists, a missing bucket ErrNoBucket, refused
// credentials ErrAccessDenied. Transient failures (5xx and 429 answers,
// refused or broken connections) are retried with exponential backoff
// until the call's context ends, or for Options.RetryFor when it has no
// deadline; other 4xx answers are not retried. The error after the last
// try wraps both the store's error and the context's. Each resumption of
// a read retries for that time afresh, so a long read that keeps making
// progress never gives up.
//
// # Resources
//
// New does not dial unless Options.CheckBucket is set. The Target starts
// no goroutines; Close releases the idle connections of the transport it
// made.
package s3target
