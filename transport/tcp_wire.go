package transport

// The wire protocol of the TCP transport. After the TLS handshake (none in
// Insecure mode) the dialler writes a preamble:
//
//	"KEEP" | version (1) | lane (1) | cluster id (8) | from (8) | to (8)
//
// with integers big-endian, and the acceptor answers with an ack record,
// empty when it takes the connection, else the refusal's text (after which
// it closes). Then both sides exchange records, each a kind byte and, for
// kinds with a body, a uvarint length and the body:
//
//	frame   0x01 len body        a keeper frame (frame lanes, dialler to acceptor)
//	ping    0x02                 keepalive, either way, discarded
//	ack     0x03 len text        answer to the preamble
//	header  0x04 len body        a stream's header (stream lane, first)
//	chunk   0x05 len crc body    a stream body chunk; crc is the CRC-32C of body (4 bytes, big-endian)
//	end     0x06 total           end of a stream body: total body bytes as a uvarint
//	verdict 0x07 code len text   the stream receiver's answer: code 0 taken, else refused
//
// Lengths are bounded by MaxFrame; a longer record, an unknown kind or a
// malformed length closes the connection as a refusal.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
)

// laneKind is what a connection carries.
type laneKind uint8

const (
	laneControl laneKind = iota // heartbeats, votes, read index, responses, membership frames
	laneData                    // raft appends and forwarded proposals
	laneStream                  // one snapshot stream
	numLanes    = 2             // frame lanes per peer
)

func (k laneKind) String() string {
	switch k {
	case laneControl:
		return "control"
	case laneData:
		return "data"
	case laneStream:
		return "stream"
	}
	return fmt.Sprintf("lane(%d)", uint8(k))
}

const (
	wireMagic    = "KEEP"
	wireVersion  = 1
	preambleSize = 4 + 1 + 1 + 8 + 8 + 8
)

// Record kinds.
const (
	recFrame   = 0x01
	recPing    = 0x02
	recAck     = 0x03
	recHeader  = 0x04
	recChunk   = 0x05
	recEnd     = 0x06
	recVerdict = 0x07
)

// Verdict codes of a stream receiver.
const (
	verdictTaken      = 0 // receive returned nil
	verdictRefused    = 1 // receive returned an error (its text follows)
	verdictNoReceiver = 2 // no receiver attached
	verdictBroken     = 3 // the body arrived damaged or cut
)

// maxAckText bounds an ack's or verdict's text.
const maxAckText = 4096

// preamble is the first thing a dialler sends.
type preamble struct {
	lane     laneKind
	cluster  uint64
	from, to uint64
}

func (p preamble) encode() []byte {
	b := make([]byte, 0, preambleSize)
	b = append(b, wireMagic...)
	b = append(b, wireVersion, byte(p.lane))
	b = binary.BigEndian.AppendUint64(b, p.cluster)
	b = binary.BigEndian.AppendUint64(b, p.from)
	return binary.BigEndian.AppendUint64(b, p.to)
}

// errGarbage marks bytes that are not keeper's protocol.
var errGarbage = errors.New("not keeper's protocol")

// errOversize marks a record longer than MaxFrame.
var errOversize = errors.New("record over MaxFrame")

// readPreamble reads and parses a preamble.
func readPreamble(r io.Reader) (preamble, error) {
	var b [preambleSize]byte
	if _, err := io.ReadFull(r, b[:4]); err != nil {
		return preamble{}, err
	}
	if string(b[:4]) != wireMagic {
		return preamble{}, fmt.Errorf("%w: bad magic %q", errGarbage, b[:4])
	}
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return preamble{}, noEOF(err)
	}
	if b[4] != wireVersion {
		return preamble{}, fmt.Errorf("%w: version %d", errGarbage, b[4])
	}
	p := preamble{
		lane:    laneKind(b[5]),
		cluster: binary.BigEndian.Uint64(b[6:]),
		from:    binary.BigEndian.Uint64(b[14:]),
		to:      binary.BigEndian.Uint64(b[22:]),
	}
	if p.lane > laneStream {
		return preamble{}, fmt.Errorf("%w: lane %d", errGarbage, b[5])
	}
	return p, nil
}

// writeRecord writes a record with a body to w. The record's head is
// built in w's free buffer space (AvailableBuffer), so writing allocates
// nothing.
func writeRecord(w *bufio.Writer, kind byte, body []byte) error {
	h := append(w.AvailableBuffer(), kind)
	h = binary.AppendUvarint(h, uint64(len(body)))
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// castagnoli is the CRC-32C table for stream chunks.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeChunk writes a stream chunk record.
func writeChunk(w *bufio.Writer, body []byte) error {
	h := append(w.AvailableBuffer(), recChunk)
	h = binary.AppendUvarint(h, uint64(len(body)))
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(body, castagnoli))
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// writeEnd writes a stream's end marker.
func writeEnd(w *bufio.Writer, total uint64) error {
	_, err := w.Write(binary.AppendUvarint(append(w.AvailableBuffer(), recEnd), total))
	return err
}

// writeVerdict writes a stream receiver's verdict.
func writeVerdict(w *bufio.Writer, code byte, text string) error {
	if len(text) > maxAckText {
		text = text[:maxAckText]
	}
	if err := w.WriteByte(recVerdict); err != nil {
		return err
	}
	if err := w.WriteByte(code); err != nil {
		return err
	}
	return writeRecordBody(w, []byte(text))
}

// writeRecordBody writes a uvarint length and body.
func writeRecordBody(w *bufio.Writer, body []byte) error {
	if _, err := w.Write(binary.AppendUvarint(w.AvailableBuffer(), uint64(len(body)))); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// readLen reads a record length and checks it against max.
func readLen(r *bufio.Reader, max int) (int, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, io.ErrUnexpectedEOF
		}
		var ne net.Error
		if errors.As(err, &ne) {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %w", errGarbage, err)
	}
	if n > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", errOversize, n, max)
	}
	return int(n), nil
}

// readBody reads a record length and a body of that length into a new
// slice.
func readBody(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readLen(r, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, noEOF(err)
	}
	return b, nil
}

// noEOF turns io.EOF inside a record into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readAck reads the acceptor's answer to a preamble: nil when taken.
func readAck(r *bufio.Reader) error {
	kind, err := r.ReadByte()
	if err != nil {
		return err
	}
	if kind != recAck {
		return fmt.Errorf("%w: record %#x instead of an ack", errGarbage, kind)
	}
	text, err := readBody(r, maxAckText)
	if err != nil {
		return err
	}
	if len(text) > 0 {
		return ackText(text)
	}
	return nil
}

// ackText is a refusal the acceptor sent back in its ack.
type ackText string

func (a ackText) Error() string { return "peer refused: " + string(a) }

// writeAck writes the answer to a preamble: empty text takes the
// connection.
func writeAck(w *bufio.Writer, text string) error {
	if len(text) > maxAckText {
		text = text[:maxAckText]
	}
	if err := writeRecord(w, recAck, []byte(text)); err != nil {
		return err
	}
	return w.Flush()
}
