package zkfile_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/keeper-go/keeper/internal/zkfile"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
)

// allTxns returns one transaction of every kind a log holds.
func allTxns() []zkfile.Txn {
	acl := []zkfile.ACL{{Perms: 31, Scheme: "digest", ID: "u:h"}}
	h := func(z int64, typ int32) zkfile.Txn {
		return zkfile.Txn{ClientID: 0x100ab, Cxid: 7, Zxid: z, Time: 1_700_000_000_123, Type: typ}
	}
	var out []zkfile.Txn
	add := func(t zkfile.Txn) { out = append(out, t) }
	t := h(1<<32|1, zkfile.OpCreateSession)
	t.Timeout = 30000
	add(t)
	t = h(1<<32|2, zkfile.OpCreate)
	t.Path, t.Data, t.ACL, t.Ephemeral, t.ParentCVersion = "/a", []byte("x"), acl, true, 3
	add(t)
	t = h(1<<32|3, zkfile.OpCreate2)
	t.Path, t.ACL, t.ParentCVersion = "/b", zkfile.OpenACL, 4
	t.Data = []byte{}
	add(t)
	t = h(1<<32|4, zkfile.OpCreateTTL)
	t.Path, t.Data, t.ACL, t.ParentCVersion, t.TTL = "/c", []byte("t"), acl, 5, 1000
	add(t)
	t = h(1<<32|5, zkfile.OpCreateContainer)
	t.Path, t.Data, t.ACL, t.ParentCVersion = "/d", []byte("c"), acl, 6
	add(t)
	t = h(1<<32|6, zkfile.OpSetData)
	t.Path, t.Data, t.Version = "/b", []byte("new"), 1
	add(t)
	t = h(1<<32|7, zkfile.OpSetACL)
	t.Path, t.ACL, t.Version = "/b", acl, 1
	add(t)
	t = h(1<<32|8, zkfile.OpDelete)
	t.Path = "/d"
	add(t)
	t = h(1<<32|9, zkfile.OpError)
	t.Err = -101
	add(t)
	t = h(1<<32|10, zkfile.OpMulti)
	t.Ops = []zkfile.Txn{
		{Type: zkfile.OpCreate, Path: "/e", Data: []byte("m"), ACL: acl, ParentCVersion: 7},
		{Type: zkfile.OpSetData, Path: "/e", Data: []byte("n"), Version: 1},
		{Type: zkfile.OpCheck, Path: "/e", Version: 1},
		{Type: zkfile.OpDelete, Path: "/e"},
	}
	for i := range t.Ops {
		t.Ops[i].ClientID, t.Ops[i].Cxid, t.Ops[i].Zxid, t.Ops[i].Time = t.ClientID, t.Cxid, t.Zxid, t.Time
	}
	add(t)
	t = h(1<<32|11, zkfile.OpCloseSession)
	t.HasPaths, t.Paths = true, []string{"/a"}
	add(t)
	t = h(1<<32|12, zkfile.OpCloseSession) // before 3.6: no record
	add(t)
	t = h(1<<32|13, zkfile.OpCreate) // 3.3: no parentCVersion
	t.Path, t.Data, t.ACL, t.ParentCVersion = "/f", []byte("v0"), zkfile.OpenACL, -1
	add(t)
	t = h(1<<32|14, zkfile.OpDeleteContainer)
	t.Path = "/c"
	add(t)
	return out
}

// Every kind of transaction encodes and decodes to itself, with and
// without a digest.
func TestTxnRoundTrip(t *testing.T) {
	for _, withDigest := range []bool{false, true} {
		for _, tx := range allTxns() {
			if withDigest {
				tx.Digest = &zkfile.TxnDigest{Version: 2, Tree: -12345}
				if tx.Type == zkfile.OpCreate && tx.ParentCVersion == -1 {
					continue // 3.3 logs have no digests
				}
			}
			b, err := zkfile.EncodeTxn(&tx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := zkfile.DecodeTxn(b)
			if err != nil {
				t.Fatalf("type %d: %v", tx.Type, err)
			}
			if !sameTxn(got, &tx) {
				t.Fatalf("type %d:\n got %+v\nwant %+v", tx.Type, *got, tx)
			}
		}
	}
}

// writeLog returns a log file of txns followed by pad zeros.
func writeLog(t testing.TB, txns []zkfile.Txn, pad int) []byte {
	t.Helper()
	var buf bytes.Buffer
	l, err := zkfile.NewLogWriter(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range txns {
		if err := l.Append(&txns[i]); err != nil {
			t.Fatal(err)
		}
	}
	l.Pad(pad)
	return buf.Bytes()
}

func readLog(b []byte) (zkfile.LogInfo, []*zkfile.Txn, error) {
	var got []*zkfile.Txn
	info, err := zkfile.ReadLog(context.Background(), "log.100000001", bytes.NewReader(b), func(t *zkfile.Txn, _ int64) error {
		got = append(got, t)
		return nil
	})
	return info, got, err
}

// A log cut at any offset inside its last record, or whose last record
// was written only in part (zeros where the rest should be), reads as the
// records before it; the same damage followed by another record is
// refused, naming the damaged record's offset.
func TestLogTornTail(t *testing.T) {
	txns := allTxns()
	full := writeLog(t, txns, 0)
	lastAt := int64(len(writeLog(t, txns[:len(txns)-1], 0)))
	info, got, err := readLog(full)
	if err != nil || len(got) != len(txns) || info.Torn != nil {
		t.Fatalf("whole log: %d records, %v, torn %v", len(got), err, info.Torn)
	}
	for cut := lastAt; cut < int64(len(full)); cut++ {
		for _, pad := range []int{0, 100} {
			b := append(full[:cut:cut], make([]byte, pad)...)
			info, got, err := readLog(b)
			if err != nil || len(got) != len(txns)-1 {
				t.Fatalf("cut at %d, pad %d: %d records, %v", cut, pad, len(got), err)
			}
			if cut > lastAt && pad == 0 && (info.Torn == nil || info.Torn.Offset != lastAt) {
				t.Fatalf("cut at %d: torn %+v, want at %d", cut, info.Torn, lastAt)
			}
		}
	}
	// The last record's middle zeroed, its end byte written: the checksum
	// fails, nothing follows, so it was torn.
	b := bytes.Clone(full)
	for i := lastAt + 20; i < int64(len(b))-1; i++ {
		b[i] = 0
	}
	if info, got, err := readLog(b); err != nil || len(got) != len(txns)-1 || info.Torn == nil {
		t.Fatalf("zeroed last record: %d records, %v", len(got), err)
	}
	// The same in a middle record: refused at its offset.
	b = append(b[:len(b):len(b)], writeLog(t, txns[:1], 0)[16:]...)
	_, _, err = readLog(b)
	var fe *zkfile.FileError
	if !errors.Is(err, zkfile.ErrCorrupt) || !errors.As(err, &fe) || fe.Offset != lastAt {
		t.Fatalf("zeroed middle record: %v, want ErrCorrupt at %d", err, lastAt)
	}
}

// Every bit flipped in a record's checksum or entry is caught: refused
// (data follows it) or, for the last record, dropped as torn.
func TestLogBitFlips(t *testing.T) {
	txns := allTxns()[:4]
	full := writeLog(t, txns, 64)
	for i := 16; i < len(full)-64; i++ {
		for bit := 0; bit < 8; bit++ {
			b := bytes.Clone(full)
			b[i] ^= 1 << bit
			info, got, err := readLog(b)
			if err == nil && info.Torn == nil && len(got) == len(txns) {
				same := true
				for k := range got {
					same = same && sameTxn(got[k], &txns[k])
				}
				if same {
					continue // a flip in a length that still decodes the same
				}
				t.Fatalf("flip at %d bit %d: read %d records without error", i, bit, len(got))
			}
			if err != nil && !errors.Is(err, zkfile.ErrCorrupt) && !errors.Is(err, zkfile.ErrUnsupported) {
				t.Fatalf("flip at %d bit %d: untyped %v", i, bit, err)
			}
		}
	}
}

// Files that are not logs are refused as such.
func TestLogForeign(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":       nil,
		"zeros":       make([]byte, 4096),
		"snapshot":    []byte("ZKSN\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"),
		"text":        []byte("hello, world\n"),
		"short magic": []byte("ZKL"),
	} {
		_, _, err := readLog(b)
		if !errors.Is(err, zkfile.ErrNotZooKeeper) && !errors.Is(err, zkfile.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	v3 := []byte("ZKLG\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00")
	if _, _, err := readLog(v3); !errors.Is(err, zkfile.ErrUnsupported) {
		t.Errorf("version 3: %v", err)
	}
}

// A generated log reads back to the same transactions.
func TestLogGenerated(t *testing.T) {
	g := zkgen.New(3)
	var txns []zkfile.Txn
	for range 500 {
		txns = append(txns, g.Next())
	}
	_, got, err := readLog(writeLog(t, txns, 4096))
	if err != nil || len(got) != len(txns) {
		t.Fatalf("%d of %d: %v", len(got), len(txns), err)
	}
	for i := range got {
		if !sameTxn(got[i], &txns[i]) {
			t.Fatalf("txn %d:\n got %+v\nwant %+v", i, *got[i], txns[i])
		}
	}
}

// sameTxn compares transactions, an empty slice equal to a nil one.
func sameTxn(a, b *zkfile.Txn) bool {
	return reflect.DeepEqual(normal(*a), normal(*b))
}

func normal(t zkfile.Txn) zkfile.Txn {
	if len(t.Data) == 0 {
		t.Data = nil
	}
	if len(t.Paths) == 0 {
		t.Paths = nil
	}
	if len(t.ACL) == 0 {
		t.ACL = nil
	}
	ops := t.Ops
	t.Ops = nil
	for _, o := range ops {
		t.Ops = append(t.Ops, normal(o))
	}
	return t
}
