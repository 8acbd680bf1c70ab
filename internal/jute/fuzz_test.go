package jute_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// FuzzDecodeRequest decodes arbitrary bytes as the request of an arbitrary
// opcode: a typed error or a record, never a panic; a record encodes to
// bytes that decode to an equal record and encode again the same.
func FuzzDecodeRequest(f *testing.F) {
	for op, req := range requestSamples() {
		f.Add(int32(op), jute.AppendRecord(nil, req))
	}
	_, multi := multiCreateCheckRecords()
	f.Add(int32(jute.OpMulti), jute.AppendRecord(nil, multi))
	f.Add(int32(jute.OpMulti), unhex(f, multiCreateCheck)[12:])
	f.Add(int32(jute.OpGetChildren), unhex(f, "7fffffff 00"))
	f.Add(int32(99), []byte{})
	f.Fuzz(func(t *testing.T, op int32, body []byte) {
		rec, err := jute.DecodeRequest(jute.NewDecoder(body), jute.OpCode(op))
		if err != nil {
			if !errors.Is(err, jute.ErrMalformed) && !errors.Is(err, jute.ErrUnknownOp) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if rec == nil {
			return
		}
		b := jute.AppendRecord(nil, rec)
		d := jute.NewDecoder(b)
		again, err := jute.DecodeRequest(d, jute.OpCode(op))
		if err != nil || d.End() != nil {
			t.Fatalf("re-encoded %x does not decode: %v, %v", b, err, d.End())
		}
		if !reflect.DeepEqual(again, rec) {
			t.Fatalf("decoded %+v, then %+v", rec, again)
		}
		if b2 := jute.AppendRecord(nil, again); !bytes.Equal(b2, b) {
			t.Fatalf("encodings differ: %x, %x", b, b2)
		}
	})
}

// FuzzConnectRequest decodes arbitrary bytes as a client's first packet:
// a typed error or a request that encodes back, readOnly byte included
// exactly when it was sent.
func FuzzConnectRequest(f *testing.F) {
	f.Add(unhex(f, connectNoReadOnly)[4:])
	f.Add(unhex(f, connectReadOnly)[4:])
	f.Add(jute.AppendRecord(nil, &jute.ConnectRequest{SessionID: 5, Passwd: nil, ReadOnly: true, WithReadOnly: true}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var req jute.ConnectRequest
		d := jute.NewDecoder(body)
		d.Decode(&req)
		if err := d.Err(); err != nil {
			if !errors.Is(err, jute.ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		b := jute.AppendRecord(nil, &req)
		if len(b) != d.Offset() {
			t.Fatalf("read %d bytes, wrote back %d", d.Offset(), len(b))
		}
		var again jute.ConnectRequest
		if err := jute.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("decoded %+v, then %+v (%v)", req, again, err)
		}
	})
}

// FuzzReadPacket reads arbitrary bytes as packets under an arbitrary
// limit: each body is what its prefix framed and no longer than the limit,
// and reading ends with io.EOF or a typed error.
func FuzzReadPacket(f *testing.F) {
	f.Add(unhex(f, connectReadOnly+replyNoNode+multiCreateCheck+multiCheckFailed), uint16(0))
	f.Add(unhex(f, multiCreateCheck), uint16(16))
	f.Add([]byte("ruok"), uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe}, uint16(0))
	f.Add([]byte{0, 0, 0, 5, 1, 2}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		r := bytes.NewReader(data)
		var buf []byte
		for off := 0; ; {
			body, err := jute.ReadPacket(r, buf, int(limit))
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, jute.ErrMalformed) && !errors.Is(err, jute.ErrPacketTooLarge) {
					t.Fatalf("untyped error: %v", err)
				}
				if err == io.EOF && off != len(data) {
					t.Fatalf("io.EOF at %d of %d bytes", off, len(data))
				}
				return
			}
			max := int(limit)
			if max == 0 {
				max = jute.DefaultMaxPacket
			}
			if len(body) > max || !bytes.Equal(body, data[off+4:off+4+len(body)]) {
				t.Fatalf("body of %d bytes at %d, limit %d", len(body), off, max)
			}
			off += 4 + len(body)
			buf = body
		}
	})
}
