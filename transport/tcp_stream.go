package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"
)

// streamChunkSize is the body bytes per stream chunk (or MaxFrame, when
// smaller).
const streamChunkSize = 256 << 10

// errDamaged marks a stream body whose chunk checksum or end marker does
// not match what arrived.
var errDamaged = errors.New("stream body damaged")

// AttachStream registers receive for snapshot streams addressed to this
// member. Each incoming stream runs receive on a goroutine of its own,
// naming the certified sender; body's reads fail with ErrStreamBroken when
// the connection breaks, a chunk fails its checksum or the body ends
// without its end marker, so a damaged stream never reads as complete.
// The sender learns receive's result. It replaces any previous receiver;
// Detach removes it and waits for streams being received.
func (t *TCP) AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error {
	if t.isClosed() {
		return ErrClosed
	}
	t.receiveMu.Lock()
	t.receive = receive
	t.receiveMu.Unlock()
	return nil
}

// SendStream sends header, then body read to its end, to member to on a
// connection of its own, and returns nil once the receiver took the whole
// stream. The body goes in checksummed chunks followed by an end marker
// with its length. It fails when ctx ends (promptly: the connection is
// closed), when no chunk makes progress for StreamChunkTimeout, when the
// peer is unknown or unreachable (ErrStreamBroken), refuses the
// connection (ErrRefused, for example ReasonTooManyStreams), has no
// receiver (ErrNoReceiver), or its receiver returns an error (whose text
// the returned error carries).
func (t *TCP) SendStream(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	err := t.sendStream(ctx, to, header, body)
	if err != nil {
		t.stats.streamsFailed.Add(1)
		return err
	}
	t.stats.streamsSent.Add(1)
	return nil
}

func (t *TCP) sendStream(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	if len(header) > t.cfg.MaxFrame {
		return fmt.Errorf("%w: header of %d bytes is over MaxFrame", ErrStreamBroken, len(header))
	}
	t.mu.Lock()
	closed, p := t.closed, t.peers[to]
	t.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if p == nil {
		return fmt.Errorf("%w: member %d is not a peer", ErrStreamBroken, to)
	}
	// The stream ends with ctx or with the TCP.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()

	d, err := t.dial(sctx, to, p.addr, laneStream, t.cfg.StreamChunkTimeout)
	if err != nil {
		var re *RefusalError
		if errors.As(err, &re) || errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	defer t.untrack(d.lc)
	defer d.lc.conn.Close()
	defer context.AfterFunc(sctx, func() { d.lc.conn.Close() })()

	verdict := make(chan verdictResult, 1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		verdict <- readVerdict(d.br)
	}()
	werr := t.writeStream(d.pc, header, body, verdict)
	var v verdictResult
	if werr != nil && !errors.Is(werr, errBodyRead) {
		// A write failed: the receiver may have answered before it
		// closed (a refusal explains the failure best); wait a moment.
		tm := time.NewTimer(drainTime)
		select {
		case v = <-verdict:
		case <-tm.C:
			d.lc.conn.Close()
			v = <-verdict
		}
		tm.Stop()
	} else {
		if werr != nil {
			// The body failed: cut the stream so the receiver sees it
			// broken, never complete.
			d.lc.conn.Close()
		}
		v = <-verdict
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	if v.err != nil {
		if werr != nil {
			return werr
		}
		if t.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("%w: member %d: waiting for the verdict: %w", ErrStreamBroken, to, v.err)
	}
	switch v.code {
	case verdictTaken:
		if werr != nil {
			return werr
		}
		return nil
	case verdictNoReceiver:
		return fmt.Errorf("%w: member %d", ErrNoReceiver, to)
	case verdictBroken:
		return fmt.Errorf("%w: member %d: %s", ErrStreamBroken, to, strings.TrimPrefix(v.text, ErrStreamBroken.Error()+": "))
	default:
		return fmt.Errorf("transport: member %d did not take the stream: %s", to, v.text)
	}
}

// errBodyRead marks a failure to read the sender's own body.
var errBodyRead = errors.New("reading the stream body")

// writeStream writes the header, the body in chunks and the end marker,
// and flushes. It stops early when the receiver answered before the end.
func (t *TCP) writeStream(pc *progressConn, header []byte, body io.Reader, verdict chan verdictResult) error {
	size := min(streamChunkSize, t.cfg.MaxFrame)
	bw := bufio.NewWriterSize(pc, size+32)
	if err := writeRecord(bw, recHeader, header); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	buf := make([]byte, size)
	// A chunk goes out when full, or when the body is slow and a quarter
	// of the progress timeout passed since the last one, so the receiver
	// sees progress as long as the body makes some.
	flushAfter := t.cfg.StreamChunkTimeout / 4
	var total uint64
	filled, last := 0, time.Now()
	for {
		n, rerr := body.Read(buf[filled:])
		filled += n
		if filled > 0 && (filled == len(buf) || rerr != nil || time.Since(last) >= flushAfter) {
			if err := writeChunk(bw, buf[:filled]); err != nil {
				return fmt.Errorf("%w: %w", ErrStreamBroken, err)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("%w: %w", ErrStreamBroken, err)
			}
			total += uint64(filled)
			filled, last = 0, time.Now()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w: %w", ErrStreamBroken, errBodyRead, rerr)
		}
		select {
		case v := <-verdict:
			// The receiver answered before the end: hand the answer back.
			verdict <- v
			return nil
		default:
		}
	}
	if err := writeEnd(bw, total); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	return nil
}

// verdictResult is what the sender read back: a verdict, or the error
// that ended the connection first.
type verdictResult struct {
	code byte
	text string
	err  error
}

// readVerdict reads the receiver's pings until its verdict.
func readVerdict(br *bufio.Reader) verdictResult {
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return verdictResult{err: err}
		}
		switch kind {
		case recPing:
			continue
		case recVerdict:
			code, err := br.ReadByte()
			if err != nil {
				return verdictResult{err: noEOF(err)}
			}
			text, err := readBody(br, maxAckText)
			if err != nil {
				return verdictResult{err: err}
			}
			return verdictResult{code: code, text: string(text)}
		default:
			return verdictResult{err: fmt.Errorf("%w: record %#x on a stream", errGarbage, kind)}
		}
	}
}

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
