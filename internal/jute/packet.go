package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxPacket is the limit ReadPacket applies when given none: 0xfffff
// (1048575) bytes, ZooKeeper's default jute.maxbuffer ("just under 1M",
// zookeeperAdmin.md, release-3.9.5). ZooKeeper adds nothing to it for the
// headers: its server refuses a client's length prefix above jute.maxbuffer
// ("Len error", NIOServerCnxn.readLength and NettyServerCnxn compare the
// prefix, header and record together, with BinaryInputArchive.maxBuffer),
// and its client refuses a reply above the same default
// (ClientCnxnSocket.readLength, ZKClientConfig.CLIENT_MAX_PACKET_LENGTH_DEFAULT).
// The margin ZooKeeper does add, zookeeper.jute.maxbuffer.extrasize (new in
// 3.5.7, by default jute.maxbuffer again), bounds each buffer and string a
// server reads back from its own records (BinaryInputArchive.checkLength),
// never a client's packet. A node's data therefore reaches a client only if
// it fits in one packet with its header and Stat.
const DefaultMaxPacket = 0xfffff

// ReadPacket reads one packet from r: a 4-byte big-endian length, then that
// many bytes, which it returns. The body is read into buf when it fits (and
// then aliases it), else into a new slice; pass the previous body back as
// buf to reuse it. limit ≤ 0 means DefaultMaxPacket.
//
// A length below 0 returns an error matching ErrMalformed, one above limit
// ErrPacketTooLarge; neither reads the body. A reader at its end before the
// first byte returns io.EOF; one that ends inside the packet returns an error
// matching io.ErrUnexpectedEOF. Other read errors are returned wrapped.
//
// A server that answers ZooKeeper's four-letter words (ruok, srvr, …) reads
// them in place of a first length (NIOServerCnxn.checkFourLetterWord): it
// peeks at the first 4 bytes before calling ReadPacket.
func ReadPacket(r io.Reader, buf []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxPacket
	}
	if cap(buf) < 4 {
		buf = make([]byte, 4)
	}
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("jute: packet length: %w", err)
	}
	n := int32(binary.BigEndian.Uint32(buf[:4]))
	switch {
	case n < 0:
		return nil, fmt.Errorf("%w: packet length %d", ErrMalformed, n)
	case int64(n) > int64(limit):
		return nil, fmt.Errorf("%w: packet length %d, limit %d", ErrPacketTooLarge, n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("jute: packet body of %d bytes: %w", n, err)
	}
	return body, nil
}

// AppendPacket appends one packet to dst: the 4-byte length prefix, then
// each record encoded in turn (a reply's header, then its body); nil records
// are skipped, for replies that are a header alone.
func AppendPacket(dst []byte, records ...Record) []byte {
	e := Encoder{buf: dst}
	start := e.StartPacket()
	for _, r := range records {
		e.Encode(r)
	}
	e.EndPacket(start)
	return e.buf
}
