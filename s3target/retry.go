package s3target

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff between tries: it starts at firstBackoff, doubles up to
// maxBackoff, and each wait is drawn from its upper half.
const (
	firstBackoff = 20 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// retry calls try until it succeeds, fails for good, or the time for
// retries runs out: ctx's deadline, or t.retryFor if ctx has none.
func (t *Target) retry(ctx context.Context, op, name string, try func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.retryFor)
		defer cancel()
	}
	backoff := firstBackoff
	var last error // the last transient failure
	for attempt := 1; ; attempt++ {
		err := try(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && last != nil {
			// The time ran out during this try: the store's last answer
			// says more than the context's error.
			return fmt.Errorf("%w (gave up after %d tries: %w)", last, attempt, ctx.Err())
		}
		err, transient := classify(op, name, err)
		if !transient {
			return err
		}
		last = err
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		if deadline, _ := ctx.Deadline(); time.Until(deadline) < wait {
			return fmt.Errorf("%w (gave up after %d tries: %w)", err, attempt, context.DeadlineExceeded)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (gave up after %d tries: %w)", err, attempt, ctx.Err())
		case <-timer.C:
		}
	}
}
