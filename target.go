package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Target is where an archive keeps its objects: a directory (DirTarget),
// object storage (package s3target), or the host's own store. keeper
// writes each object once and never changes it; every name is a
// slash-separated path of lowercase letters, digits, '.', '-' and '_'.
//
// A Target must be safe for concurrent use. Its methods return errors that
// match ErrTargetExists and ErrTargetNotFound where those apply, and
// ErrTargetName for a name CheckTargetName refuses; any other error is
// taken as the target failing for now, and the archive retries.
//
// Put-if-absent is what keeps two archivers, or an archiver and its own
// retry, from overwriting each other: a Target must refuse a taken name
// atomically, also when Puts of one name race. A host that writes its own
// Target checks it against all of these rules with keepertest.TestTarget.
type Target interface {
	// Put stores the bytes of r under name if no object has that name,
	// and returns an error matching ErrTargetExists if one does. Put is
	// all or nothing: after an error no object of that name was made by
	// this call, and after success the object is durable.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens the object called name for reading, or returns an error
	// matching ErrTargetNotFound.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the objects whose names start with prefix, sorted by
	// name.
	List(ctx context.Context, prefix string) ([]TargetObject, error)
	// Delete removes the object called name. Deleting an object that does
	// not exist is not an error.
	Delete(ctx context.Context, name string) error
}

// TargetObject is an object a Target lists.
type TargetObject struct {
	// Name is the object's name.
	Name string
	// Size is the object's length in bytes.
	Size int64
}

var (
	// ErrTargetExists reports a Put of a name that is already taken. The
	// archive treats it as another archiver having written the same
	// object first.
	ErrTargetExists = errors.New("keeper: archive object already exists")
	// ErrTargetNotFound reports a Get of a name no object has.
	ErrTargetNotFound = errors.New("keeper: archive object not found")
	// ErrTargetName reports an object name a Target refuses: empty, not
	// made of the characters names use, or with an empty, "." or ".."
	// element.
	ErrTargetName = fmt.Errorf("keeper: bad archive object name: %w", ErrBadArguments)
)

// CheckTargetName returns an error matching ErrTargetName unless name is an
// object name keeper could write: a slash-separated path of lowercase
// letters, digits, '.', '-' and '_', none of whose elements is empty, "."
// or "..". Targets written by hosts may use it to refuse names early.
func CheckTargetName(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: %q", ErrTargetName, name)
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("%w: %q", ErrTargetName, name)
		}
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '/':
		default:
			return fmt.Errorf("%w: %q", ErrTargetName, name)
		}
	}
	return nil
}
