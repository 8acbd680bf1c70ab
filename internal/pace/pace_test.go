package pace

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestWriterHoldsRate writes 64 KiB at 256 KiB/s: every byte arrives, and
// not before a quarter second has passed.
func TestWriterHoldsRate(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Rate: 256 << 10, Ctx: context.Background()}
	start := time.Now()
	chunk := make([]byte, 4<<10)
	for range 16 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 64<<10 {
		t.Fatalf("wrote %d bytes, want %d", buf.Len(), 64<<10)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("64 KiB at 256 KiB/s took %v, want at least 250ms", el)
	}
}

// TestWriterUnpaced passes writes straight through when Rate is not set.
func TestWriterUnpaced(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Ctx: context.Background()}
	if n, err := w.Write(make([]byte, 1<<20)); n != 1<<20 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

// TestWriterCancel ends a pacing wait with the context's error.
func TestWriterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var buf bytes.Buffer
	w := &Writer{W: &buf, Rate: 1, Ctx: ctx}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, 1<<20)) // due in 12 days
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write did not end on cancel")
	}
}
