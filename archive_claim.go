package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A claim fences archivers from each other. Before it writes a log
// segment or a gap starting at index first, an archiver puts
// <cluster>/claim/<first>.kclm, whose body is the name of the object it
// is about to write. Puts are put-if-absent, so one claim per start index
// can exist, and the archive holds one object per start index.
//
// Without it two archivers could overlap: an archiver that lost its role
// finishes a put it began before the new archiver listed the target, and
// both began at the entry after the archive's end, cut at different
// places. With it the second to claim reads the first's claim and writes,
// or finds, the very object named there: a segment's name follows from
// its entries, which raft makes the same on every member.

func archClaimName(cluster, first uint64) string {
	return fmt.Sprintf("%016x/claim/%020d.kclm", cluster, first)
}

// maxClaimBytes bounds a claim's body: one object name.
const maxClaimBytes = 256

// claimStart claims index first for the object called name and returns
// the object to write there: the one named, if the claim is this
// archiver's (now, or from an earlier try), or the one another archiver
// claimed first. A claim that does not name a segment or gap of cluster
// starting at first is refused with ErrCorrupt.
func claimStart(ctx context.Context, target Target, cluster, first uint64, name string) (archObject, error) {
	claim := archClaimName(cluster, first)
	err := target.Put(ctx, claim, strings.NewReader(name))
	if err == nil {
		o, _ := parseArchObject(TargetObject{Name: name})
		return o, nil
	}
	if !errors.Is(err, ErrTargetExists) {
		return archObject{}, fmt.Errorf("keeper: archive claim %d: %w", first, err)
	}
	rc, err := target.Get(ctx, claim)
	if err != nil {
		return archObject{}, fmt.Errorf("keeper: archive claim %d: %w", first, err)
	}
	body, err := io.ReadAll(io.LimitReader(rc, maxClaimBytes+1))
	rc.Close()
	if err != nil {
		return archObject{}, fmt.Errorf("keeper: archive claim %d: %w", first, err)
	}
	o, ok := parseArchObject(TargetObject{Name: string(body)})
	if !ok || len(body) > maxClaimBytes || o.Cluster != cluster || o.First != first || (o.Kind != archSegment && o.Kind != archGap) {
		return archObject{}, fmt.Errorf("keeper: archive claim %d names %q: %w", first, body, ErrCorrupt)
	}
	return o, nil
}

// targetHas reports whether target holds an object called name.
func targetHas(ctx context.Context, target Target, name string) (bool, error) {
	objs, err := target.List(ctx, name)
	if err != nil {
		return false, fmt.Errorf("keeper: archive list: %w", err)
	}
	for _, o := range objs {
		if o.Name == name {
			return true, nil
		}
	}
	return false, nil
}
