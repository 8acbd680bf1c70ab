package crashtest

import (
	"context"
	"testing"
)

// TestHook: a Hook travels in a context, does nothing until set, and then
// runs the crash path it was given.
func TestHook(t *testing.T) {
	if FromContext(context.Background()) != nil {
		t.Fatal("a plain context carries a hook")
	}
	h := new(Hook)
	got := FromContext(WithHook(context.Background(), h))
	if got != h {
		t.Fatalf("FromContext = %p, want %p", got, h)
	}
	if h.Crash() {
		t.Fatal("an unset hook reported a crash")
	}
	crashed := 0
	h.Set(func() { crashed++ })
	if !h.Crash() || crashed != 1 {
		t.Fatalf("Crash ran the crash path %d times, want 1", crashed)
	}
}
