// Package crashtest holds the key that lets this module's test helpers
// (keepertest) stop a keeper.Node as a crash would. Being internal, code
// outside the module cannot build the key, so the crash path stays out of
// reach of host code.
package crashtest

// Key is the argument of keeper's crash entry point.
type Key struct{ ok bool }

// New returns a Key.
func New() Key { return Key{ok: true} }

// Valid reports whether k was built by New.
func (k Key) Valid() bool { return k.ok }
