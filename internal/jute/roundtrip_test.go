package jute_test

import (
	"reflect"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// TestRoundTrip: every record decodes from its own encoding to an equal
// value, consuming exactly the bytes written, and its zero value does too.
func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			for _, rec := range []jute.Record{s.rec, newLike(s.rec)} {
				b := jute.AppendRecord(nil, rec)
				d := jute.NewDecoder(b)
				got := newLike(rec)
				d.Decode(got)
				if err := d.End(); err != nil {
					t.Fatalf("decode %x: %v", b, err)
				}
				if !reflect.DeepEqual(got, rec) {
					t.Fatalf("decoded %+v, want %+v", got, rec)
				}
				if again := jute.AppendRecord(nil, got); string(again) != string(b) {
					t.Fatalf("re-encoded %x, want %x", again, b)
				}
			}
		})
	}
}

// TestEncoderAppends: an Encoder appends after what its slice held, and
// AppendRecord leaves dst's bytes alone.
func TestEncoderAppends(t *testing.T) {
	e := jute.NewEncoder([]byte("ab"))
	e.Int32(1)
	if got := string(e.Bytes()); got != "ab\x00\x00\x00\x01" || e.Len() != 6 {
		t.Fatalf("Bytes %q, Len %d", got, e.Len())
	}
	e.Reset(nil)
	e.Bool(true)
	e.Bool(false)
	if got := e.Bytes(); string(got) != "\x01\x00" {
		t.Fatalf("after Reset: %x", got)
	}
	b := jute.AppendRecord([]byte{9}, &jute.ErrorResponse{Err: jute.CodeNoNode})
	if string(b) != "\x09\xff\xff\xff\x9b" {
		t.Fatalf("AppendRecord: %x", b)
	}
}

// TestFixedLengths: the exported lengths are what the encoder writes.
func TestFixedLengths(t *testing.T) {
	for _, c := range []struct {
		rec  jute.Record
		want int
	}{
		{&jute.Stat{}, jute.StatLen},
		{&jute.RequestHeader{}, jute.RequestHeaderLen},
		{&jute.ReplyHeader{}, jute.ReplyHeaderLen},
	} {
		if got := len(jute.AppendRecord(nil, c.rec)); got != c.want || c.want == 0 {
			t.Errorf("%T: %d bytes, constant says %d", c.rec, got, c.want)
		}
	}
	if jute.StatLen != 68 || jute.RequestHeaderLen != 8 || jute.ReplyHeaderLen != 16 {
		t.Errorf("StatLen %d, RequestHeaderLen %d, ReplyHeaderLen %d", jute.StatLen, jute.RequestHeaderLen, jute.ReplyHeaderLen)
	}
}
