// Package bitrot damages a stopped member's stored data behind keeper's back,
// as a failing disk would, for the tests and the example that show the
// consistency check finding it.
package bitrot

import (
	"fmt"
	"slices"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// FlipZnode flips a bit of the last byte of path's stored value in the
// tree of the stopped member whose data dir is dir, leaving the stored
// digest as it was.
func FlipZnode(dir, path string) error {
	cid, ok, err := storage.PeekClusterID(dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("bitrot: %s holds no tree", dir)
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: cid})
	if err != nil {
		return err
	}
	defer st.Close()
	key := keys.NodeKey(nil, path)
	var v []byte
	if err := st.Get(key, func(b []byte) error { v = slices.Clone(b); return nil }); err != nil {
		return fmt.Errorf("bitrot: %s: %w", path, err)
	}
	v[len(v)-1] ^= 0x20
	b := st.NewBatch()
	defer b.Close()
	if err := b.Set(key, v); err != nil {
		return err
	}
	return b.Commit(true)
}
