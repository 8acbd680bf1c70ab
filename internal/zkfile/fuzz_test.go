package zkfile_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/keeper-go/keeper/internal/zkfile"
)

// typedErr reports whether err is one of the package's refusals.
func typedErr(err error) bool {
	return errors.Is(err, zkfile.ErrCorrupt) || errors.Is(err, zkfile.ErrNotZooKeeper) || errors.Is(err, zkfile.ErrUnsupported)
}

// FuzzReadSnapshot reads arbitrary bytes as a snapshot in each
// compression: a typed error or a whole read, never a panic.
func FuzzReadSnapshot(f *testing.F) {
	nodes := testNodes()
	nodes[2].Data = []byte("small")
	for c := range uint8(3) {
		f.Add(c, buildSnapshot(f, nodes, zkfile.SnapshotOptions{Compression: zkfile.Compression(c), Sessions: map[int64]int32{1: 2}}))
		f.Add(c, buildSnapshot(f, nodes[:1], zkfile.SnapshotOptions{Compression: zkfile.Compression(c), Digest: &zkfile.Digest{Zxid: 1, Version: 2}}))
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		name := zkfile.SnapshotName(1, zkfile.Compression(c%3))
		_, err := zkfile.ReadSnapshot(context.Background(), name, bytes.NewReader(data), zkfile.SnapshotVisitor{
			Node: func(*zkfile.Node) error { return nil },
		})
		if err != nil && !typedErr(err) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// FuzzReadLog reads arbitrary bytes as a log: a typed error or records,
// never a panic; a torn tail is reported, not refused.
func FuzzReadLog(f *testing.F) {
	f.Add(writeLog(f, allTxns(), 64))
	f.Add(writeLog(f, allTxns()[:3], 0))
	f.Add([]byte("ZKLG\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := zkfile.ReadLog(context.Background(), "log.1", bytes.NewReader(data), func(*zkfile.Txn, int64) error { return nil })
		if err != nil && !typedErr(err) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// FuzzDecodeTxn decodes arbitrary log entries; what decodes encodes back
// to an entry that decodes the same.
func FuzzDecodeTxn(f *testing.F) {
	for _, tx := range allTxns() {
		b, err := zkfile.EncodeTxn(&tx)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := zkfile.DecodeTxn(data)
		if err != nil {
			if !typedErr(err) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if tx.OpsCut != "" {
			return // the ops after the cut are not kept, so not re-encoded
		}
		b, err := zkfile.EncodeTxn(tx)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		again, err := zkfile.DecodeTxn(b)
		if err != nil || !sameTxn(again, tx) {
			t.Fatalf("re-encoded entry decodes to %+v, %v; want %+v", again, err, tx)
		}
	})
}
