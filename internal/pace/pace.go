// Package pace slows a writer to a byte rate, so that a bulk transfer (a
// raft snapshot sent to a follower) leaves the CPU and the disk to the
// latency-bound work beside it.
package pace

import (
	"context"
	"io"
	"time"
)

// Writer passes writes to W, sleeping after each one as long as needed to
// keep the average rate since the first write at or under Rate bytes per
// second. A Rate of zero or less does not pace. A sleep ends early, with
// Ctx's error, when Ctx is done.
type Writer struct {
	W    io.Writer
	Rate int64
	Ctx  context.Context

	start time.Time
	n     int64
}

// Write writes p to W, then waits until the rate allows the bytes written.
func (w *Writer) Write(p []byte) (int, error) {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	n, err := w.W.Write(p)
	w.n += int64(n)
	if err != nil || w.Rate <= 0 {
		return n, err
	}
	due := time.Duration(float64(w.n) / float64(w.Rate) * float64(time.Second))
	wait := due - time.Since(w.start)
	if wait <= 0 {
		return n, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return n, nil
	case <-w.Ctx.Done():
		return n, w.Ctx.Err()
	}
}
