package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
