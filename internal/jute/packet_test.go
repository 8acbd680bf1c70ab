package jute_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/keeper-go/keeper/internal/jute"
)

// TestReadPacket reads packets written by AppendPacket back to back, from
// a reader that returns one byte at a time, reusing the buffer.
func TestReadPacket(t *testing.T) {
	var stream []byte
	stream = jute.AppendPacket(stream, newSessionRequest(true))
	stream = jute.AppendPacket(stream, &jute.RequestHeader{Xid: jute.XidPing, Type: jute.OpPing})
	stream = jute.AppendPacket(stream)
	stream = jute.AppendPacket(stream, &jute.RequestHeader{Xid: 1, Type: jute.OpGetData}, &jute.GetDataRequest{Path: "/a", Watch: true})
	want := []int{45, 8, 0, 8 + 4 + 2 + 1}

	r := iotest.OneByteReader(bytes.NewReader(stream))
	var buf []byte
	for i, n := range want {
		body, err := jute.ReadPacket(r, buf, 0)
		if err != nil || len(body) != n {
			t.Fatalf("packet %d: %d bytes, %v; want %d", i, len(body), err, n)
		}
		buf = body
	}
	var hdr jute.RequestHeader
	var req jute.GetDataRequest
	d := jute.NewDecoder(buf)
	d.Decode(&hdr)
	d.Decode(&req)
	if d.End() != nil || hdr.Type != jute.OpGetData || req.Path != "/a" || !req.Watch {
		t.Fatalf("last packet: %+v %+v %v", hdr, req, d.Err())
	}
	if _, err := jute.ReadPacket(r, buf, 0); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// TestReadPacketLimits: a length above the limit or below zero is refused
// without reading the body; the default limit is jute.maxbuffer's, 0xfffff.
func TestReadPacketLimits(t *testing.T) {
	body := make([]byte, jute.DefaultMaxPacket)
	for _, c := range []struct {
		name   string
		prefix []byte
		limit  int
		want   error
	}{
		{"default limit", []byte{0x00, 0x0f, 0xff, 0xff}, 0, nil},
		{"above default", []byte{0x00, 0x10, 0x00, 0x00}, 0, jute.ErrPacketTooLarge},
		{"above limit", []byte{0x00, 0x00, 0x00, 0x11}, 16, jute.ErrPacketTooLarge},
		{"at limit", []byte{0x00, 0x00, 0x00, 0x10}, 16, nil},
		{"negative", []byte{0xff, 0xff, 0xff, 0xfe}, 0, jute.ErrMalformed},
		{"four-letter word", []byte("ruok"), 0, jute.ErrPacketTooLarge},
	} {
		r := &countingReader{r: bytes.NewReader(append(c.prefix, body...))}
		got, err := jute.ReadPacket(r, nil, c.limit)
		if c.want == nil {
			if err != nil || len(got) != int(uint32(c.prefix[0])<<24|uint32(c.prefix[1])<<16|uint32(c.prefix[2])<<8|uint32(c.prefix[3])) {
				t.Errorf("%s: %d bytes, %v", c.name, len(got), err)
			}
			continue
		}
		if !errors.Is(err, c.want) || r.n != 4 {
			t.Errorf("%s: %v after reading %d bytes, want %v after 4", c.name, err, r.n, c.want)
		}
	}
}

// TestReadPacketCut: a stream that ends inside a packet reports
// io.ErrUnexpectedEOF, and a read error is passed on.
func TestReadPacketCut(t *testing.T) {
	full := jute.AppendPacket(nil, &jute.ReplyHeader{Xid: 1})
	for _, n := range []int{1, 3, 4, 10} {
		_, err := jute.ReadPacket(bytes.NewReader(full[:n]), nil, 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	boom := errors.New("boom")
	if _, err := jute.ReadPacket(iotest.ErrReader(boom), nil, 0); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

// TestAppendPacketPrefix: the prefix counts the bytes after it, whatever
// dst held before.
func TestAppendPacketPrefix(t *testing.T) {
	b := jute.AppendPacket([]byte("xy"), &jute.ErrorResponse{}, nil, &jute.ErrorResponse{Err: -1})
	if want := "xy\x00\x00\x00\x08\x00\x00\x00\x00\xff\xff\xff\xff"; string(b) != want {
		t.Fatalf("%x, want %x", b, want)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
