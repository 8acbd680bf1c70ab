package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"
)

// drainTime bounds how long a receiver waits, after its verdict, for the
// sender to close, so the verdict is not lost to a reset.
const drainTime = time.Second

// receiveStream runs one incoming stream: it reads the header, hands the
// body to the receiver while pinging the sender, and sends back the
// verdict.
func (t *TCP) receiveStream(lc *liveConn, pc *progressConn, br *bufio.Reader, from uint64) {
	defer t.release(lc)
	remote := lc.remote()
	var header []byte
	kind, err := br.ReadByte()
	if err == nil && kind != recHeader {
		err = refuse(from, ReasonGarbage, fmt.Errorf("record %#x instead of a stream header", kind))
	}
	if err == nil {
		header, err = readBody(br, t.cfg.MaxFrame)
		err = bodyRefusal(from, err)
	}
	if err != nil {
		t.stats.streamsFailed.Add(1)
		var re *RefusalError
		if errors.As(err, &re) {
			t.stats.refused(t.log, remote, re)
		}
		return
	}

	var wmu sync.Mutex
	bw := bufio.NewWriterSize(pc, 512)
	done := make(chan struct{})
	pinged := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(pinged)
		t.pingLoop(lockedWriter{&wmu, pc}, done)
	}()

	body := &tcpBody{br: br, max: t.cfg.MaxFrame}
	code, text := byte(verdictTaken), ""
	t.receiveMu.RLock()
	if recv := t.receive; recv == nil {
		code = verdictNoReceiver
	} else if err := recv(from, header, body); err != nil {
		code, text = verdictRefused, err.Error()
		if body.err != nil {
			code = verdictBroken
		}
	}
	t.receiveMu.RUnlock()
	close(done)
	<-pinged

	if errors.Is(body.err, errDamaged) {
		t.stats.refused(t.log, remote, refuse(from, ReasonStreamDamaged, body.err))
	}
	if code == verdictTaken {
		t.stats.streamsReceived.Add(1)
	} else {
		t.stats.streamsFailed.Add(1)
		t.log.Warn("transport: stream not taken", "peer", from, "err", text, "code", code)
	}
	wmu.Lock()
	err = writeVerdict(bw, code, text)
	if err == nil {
		err = bw.Flush()
	}
	wmu.Unlock()
	if err != nil {
		return
	}
	// Wait for the sender to read the verdict and close, discarding what
	// it still sends, so closing here does not reset the connection
	// before the verdict arrives.
	pc.hold = true
	pc.SetReadDeadline(time.Now().Add(drainTime))
	io.Copy(io.Discard, br)
}

// lockedWriter serialises writes to a connection shared by a pinger and
// the verdict.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tcpBody is an incoming stream's body as the receiver reads it: the
// chunks' bytes, checked, until the end marker.
type tcpBody struct {
	br    *bufio.Reader
	max   int
	buf   []byte
	cur   []byte // unread bytes of the current chunk
	total uint64 // body bytes received
	eof   bool   // the end marker arrived and matched
	err   error  // sticky failure, matching ErrStreamBroken
}

func (b *tcpBody) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.eof {
			return 0, io.EOF
		}
		if err := b.next(); err != nil {
			b.err = fmt.Errorf("%w: %w", ErrStreamBroken, err)
			return 0, b.err
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// next reads the next record: a chunk, checked against its checksum, or
// the end marker, checked against the bytes received.
func (b *tcpBody) next() error {
	kind, err := b.br.ReadByte()
	if err != nil {
		return noEOF(err)
	}
	switch kind {
	case recChunk:
		n, err := readLen(b.br, b.max)
		if err != nil {
			return damagedOr(err)
		}
		var sum [4]byte
		if _, err := io.ReadFull(b.br, sum[:]); err != nil {
			return noEOF(err)
		}
		if cap(b.buf) < n {
			b.buf = make([]byte, n)
		}
		chunk := b.buf[:n]
		if _, err := io.ReadFull(b.br, chunk); err != nil {
			return noEOF(err)
		}
		if crc32.Checksum(chunk, castagnoli) != binary.BigEndian.Uint32(sum[:]) {
			return fmt.Errorf("%w: chunk checksum mismatch after %d bytes", errDamaged, b.total)
		}
		b.cur = chunk
		b.total += uint64(n)
		return nil
	case recEnd:
		total, err := binary.ReadUvarint(b.br)
		if err != nil {
			return damagedOr(err)
		}
		if total != b.total {
			return fmt.Errorf("%w: end marker says %d bytes, %d arrived", errDamaged, total, b.total)
		}
		b.eof = true
		return nil
	case recPing:
		return nil
	}
	return fmt.Errorf("%w: record %#x in a stream body", errDamaged, kind)
}

// damagedOr marks a malformed length as damage; a connection error stays
// as it is.
func damagedOr(err error) error {
	if errors.Is(err, errGarbage) || errors.Is(err, errOversize) {
		return fmt.Errorf("%w: %w", errDamaged, err)
	}
	return noEOF(err)
}
