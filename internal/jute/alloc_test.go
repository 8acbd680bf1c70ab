package jute_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// hugePackets are short packets that declare lengths or counts of 2^31−1.
func hugePackets(t testing.TB) map[string]struct {
	rec jute.Record
	b   []byte
} {
	tail := "6162636465666768696a6b6c6d6e6f70"
	return map[string]struct {
		rec jute.Record
		b   []byte
	}{
		"buffer":        {&jute.GetDataResponse{}, unhex(t, "7fffffff"+tail)},
		"ustring":       {&jute.CreateResponse{}, unhex(t, "7fffffff"+tail)},
		"vector":        {&jute.GetChildrenResponse{}, unhex(t, "7fffffff"+tail)},
		"acl vector":    {&jute.SetACLRequest{}, unhex(t, "00000001 2f 7fffffff"+tail)},
		"multi":         {&jute.MultiResponse{}, unhex(t, "00000008 00 00000000 7fffffff"+tail)},
		"whoAmI vector": {&jute.WhoAmIResponse{}, unhex(t, "7fffffff"+tail)},
	}
}

// TestHugeLengthDoesNotAllocate: a 20-byte packet declaring 2^31−1 bytes or
// items is refused having allocated no more than its error.
func TestHugeLengthDoesNotAllocate(t *testing.T) {
	for name, p := range hugePackets(t) {
		if err := jute.Unmarshal(p.b, p.rec); !errors.Is(err, jute.ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", name, err)
		}
		if got := allocBytesPerRun(100, func() { _ = jute.Unmarshal(p.b, p.rec) }); got > 1024 {
			t.Errorf("%s: %d bytes allocated per decode of a %d-byte packet", name, got, len(p.b))
		}
	}
}

// allocBytesPerRun returns the bytes the heap grew by per call of f, on
// average over runs calls.
func allocBytesPerRun(runs int, f func()) uint64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// BenchmarkHugeLength decodes a 20-byte packet declaring a 2^31−1-byte
// buffer; -benchmem shows what a refusal costs.
func BenchmarkHugeLength(b *testing.B) {
	p := hugePackets(b)["buffer"]
	b.ReportAllocs()
	for range b.N {
		_ = jute.Unmarshal(p.b, p.rec)
	}
}

// BenchmarkDecodeGetDataResponse decodes a reply with 1 KiB of data.
func BenchmarkDecodeGetDataResponse(b *testing.B) {
	pkt := jute.AppendRecord(nil, &jute.GetDataResponse{Data: make([]byte, 1024), Stat: stat(1)})
	var r jute.GetDataResponse
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for range b.N {
		if err := jute.Unmarshal(pkt, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeReply appends a getData reply packet to a reused buffer.
func BenchmarkEncodeReply(b *testing.B) {
	hdr := &jute.ReplyHeader{Xid: 1, Zxid: 2}
	body := &jute.GetDataResponse{Data: make([]byte, 1024), Stat: stat(1)}
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = jute.AppendPacket(buf[:0], hdr, body)
	}
	b.SetBytes(int64(len(buf)))
}
