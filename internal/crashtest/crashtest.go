// Package crashtest lets this module's test helpers (keepertest) stop a
// keeper.Node as a crash would: its loop stops where it is and nothing more
// is synced, so a restart replays the raft log.
//
// keepertest puts a Hook in the context it hands keeper.Open, and Open sets
// the hook to the member's crash path. Being internal, code outside the
// module can neither build a Hook nor name the context key that carries it,
// so the crash path stays out of reach of host code and out of keeper's
// exported API. Nothing here is global: each Hook belongs to one Open call.
package crashtest

import "context"

// Hook holds the crash path of one opened member.
type Hook struct {
	crash func()
}

// hookKey is the context key of a Hook.
type hookKey struct{}

// WithHook returns a copy of ctx that carries h to keeper.Open.
func WithHook(ctx context.Context, h *Hook) context.Context {
	return context.WithValue(ctx, hookKey{}, h)
}

// FromContext returns the Hook ctx carries, or nil.
func FromContext(ctx context.Context) *Hook {
	h, _ := ctx.Value(hookKey{}).(*Hook)
	return h
}

// Set records crash as the member's crash path; keeper.Open calls it once
// the member is open.
func (h *Hook) Set(crash func()) { h.crash = crash }

// Crash stops the member as a crash would. It reports false, doing
// nothing, if Open never set the hook.
func (h *Hook) Crash() bool {
	if h == nil || h.crash == nil {
		return false
	}
	h.crash()
	return true
}
