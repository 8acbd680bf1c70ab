package keeper

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ACL schemes keeper understands.
const (
	schemeWorld  = "world"
	schemeAuth   = "auth"
	schemeDigest = "digest"
	schemeSuper  = "super"
	schemeIP     = "ip"
	worldAnyone  = "anyone"
)

// IPIdentity is the identity of a client at address addr (an IPv4 or IPv6
// address), which ACL entries of the ip scheme match, as ZooKeeper's
// IPAuthenticationProvider matches a connection's remote address. A server
// of remote clients (zkserver) gives each connection its client's.
func IPIdentity(addr string) Identity { return Identity{Scheme: schemeIP, ID: addr} }

// DigestIdentity is the identity a caller presents for the digest scheme: user
// and password as "user:password". Pass it through authenticate before it
// goes into a request, so that no password reaches the log.
func DigestIdentity(user, password string) Identity {
	return Identity{Scheme: schemeDigest, ID: user + ":" + password}
}

// DigestACL grants perms to the digest identity user:password. The ACL holds
// only user:base64(sha1(user:password)), as ZooKeeper stores it.
func DigestACL(perms Perm, user, password string) ACL {
	return ACL{Perms: perms, Scheme: schemeDigest, ID: digestID(user, password)}
}

// digestID is ZooKeeper's DigestAuthenticationProvider.generateDigest of
// "user:password".
func digestID(user, password string) string { return digestOf(user, user+":"+password) }

// digestOf is generateDigest of identity id whose user part is user:
// user:base64(sha1(id)).
func digestOf(user, id string) string {
	sum := sha1.Sum([]byte(id))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// authenticate turns identities as callers present them into the form apply
// and the reads compare against ACLs: a digest "user:password" becomes
// "user:base64(sha1(user:password))"; "super" is kept as is (the member that
// proposes decides who may claim it). Other schemes are refused with
// ErrBadArguments.
func authenticate(ids []Identity) ([]Identity, error) {
	out := make([]Identity, 0, len(ids))
	for _, id := range ids {
		switch id.Scheme {
		case schemeDigest:
			// As ZooKeeper's DigestAuthenticationProvider: the user is what
			// comes before the first ":" (all of it without one), the hash
			// is of the whole identity.
			user, _, _ := strings.Cut(id.ID, ":")
			out = append(out, Identity{Scheme: schemeDigest, ID: digestOf(user, id.ID)})
		case schemeSuper:
			out = append(out, Identity{Scheme: schemeSuper})
		case schemeIP:
			if _, err := netip.ParseAddr(id.ID); err != nil {
				return nil, fmt.Errorf("%w: ip identity %q is not an address", ErrBadArguments, id.ID)
			}
			out = append(out, id)
		default:
			return nil, fmt.Errorf("%w: unknown auth scheme %q", ErrBadArguments, id.Scheme)
		}
	}
	return out, nil
}

// checkACL reports ErrNoAuth unless auth grants perm under acl, as ZooKeeper's
// checkACL: an empty ACL or a super identity allows everything; world:anyone
// matches everyone; digest entries match an identical authenticated
// identity, ip entries a client address they cover.
func checkACL(acl []ACL, perm Perm, auth []Identity) error {
	if len(acl) == 0 {
		return nil
	}
	for _, id := range auth {
		if id.Scheme == schemeSuper {
			return nil
		}
	}
	for _, a := range acl {
		if a.Perms&perm == 0 {
			continue
		}
		if a.Scheme == schemeWorld && a.ID == worldAnyone {
			return nil
		}
		for _, id := range auth {
			if id.Scheme != a.Scheme {
				continue
			}
			if id.ID == a.ID || a.Scheme == schemeIP && ipMatches(a.ID, id.ID) {
				return nil
			}
		}
	}
	return ErrNoAuth
}

// ipMatches reports whether address addr falls in expr, an ip ACL id: an
// address, or an address and a prefix length ("10.0.0.0/8"), as
// ZooKeeper's IPAuthenticationProvider.matches compares them.
func ipMatches(expr, addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	p, ok := ipPrefix(expr)
	return ok && p.Contains(a.Unmap())
}

// ipPrefix parses an ip ACL id into the addresses it covers.
func ipPrefix(expr string) (netip.Prefix, bool) {
	host, bits, hasBits := strings.Cut(expr, "/")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	n := a.BitLen()
	if hasBits {
		if n, err = strconv.Atoi(bits); err != nil || n < 0 || n > a.BitLen() {
			return netip.Prefix{}, false
		}
	}
	p, err := a.Prefix(n)
	return p, err == nil
}

// validateACL checks the shape of an ACL as given by a caller, without the
// caller's identities, as ZooKeeper's fixupACL does: not empty, and every
// entry world:anyone, auth (any id), a digest id that Java's
// id.split(":") cuts into exactly two parts, or an ip address with an
// optional prefix length.
func validateACL(acl []ACL) error {
	if len(acl) == 0 {
		return fmt.Errorf("%w: empty ACL", ErrInvalidACL)
	}
	for _, a := range acl {
		switch a.Scheme {
		case schemeWorld:
			if a.ID != worldAnyone {
				return fmt.Errorf("%w: world scheme takes id anyone, not %q", ErrInvalidACL, a.ID)
			}
		case schemeAuth:
		case schemeDigest:
			if javaSplitCount(a.ID, ":") != 2 {
				return fmt.Errorf("%w: digest id must be user:hash, not %q", ErrInvalidACL, a.ID)
			}
		case schemeIP:
			if _, ok := ipPrefix(a.ID); !ok {
				return fmt.Errorf("%w: ip id must be an address or address/bits, not %q", ErrInvalidACL, a.ID)
			}
		default:
			return fmt.Errorf("%w: unknown scheme %q", ErrInvalidACL, a.Scheme)
		}
	}
	return nil
}

// javaSplitCount is the length of Java's s.split(sep) for a literal sep:
// s itself when sep does not occur, else the parts with trailing empty ones
// dropped (so "u:h:" has two parts and ":" none).
func javaSplitCount(s, sep string) int {
	parts := strings.Split(s, sep)
	if len(parts) == 1 {
		return 1
	}
	n := len(parts)
	for n > 0 && parts[n-1] == "" {
		n--
	}
	return n
}

// fixupACL is ZooKeeper's fixupACL: it drops repeated entries of acl (the
// first is kept), validates it, and replaces each auth entry by one entry per
// authenticated identity of the caller (super and ip excepted), with the
// same perms; with no such
// identity it fails with ErrInvalidACL. As in ZooKeeper, the result is not
// deduplicated again: an explicit entry equal to an auth expansion appears
// twice. acl is returned as is when it needs no change.
func fixupACL(acl []ACL, auth []Identity) ([]ACL, error) {
	if err := validateACL(acl); err != nil {
		return nil, err
	}
	if len(acl) == 1 && acl[0].Scheme != schemeAuth {
		return acl, nil
	}
	out := make([]ACL, 0, len(acl))
	for i, a := range acl {
		if slices.Contains(acl[:i], a) {
			continue
		}
		if a.Scheme != schemeAuth {
			out = append(out, a)
			continue
		}
		n := 0
		for _, id := range auth {
			if id.Scheme == schemeSuper || id.Scheme == schemeWorld || id.Scheme == schemeIP {
				// ZooKeeper expands only identities whose provider
				// isAuthenticated: not ip, which every connection has.
				continue
			}
			out = append(out, ACL{Perms: a.Perms, Scheme: id.Scheme, ID: id.ID})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: auth scheme ACL but the caller has no identity", ErrInvalidACL)
		}
	}
	return out, nil
}

// redactDigest hides the hash of a digest id as ZooKeeper 3.8's getACL does
// for a caller without ADMIN, id.replaceAll(":.*", ":x"): from each ":" to
// the next line terminator (where Java's "." stops) or the end becomes ":x".
func redactDigest(id string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(id, ':')
		if i < 0 {
			b.WriteString(id)
			return b.String()
		}
		b.WriteString(id[:i])
		b.WriteString(":x")
		id = id[i+1:]
		j := strings.IndexFunc(id, isLineTerminator)
		if j < 0 {
			return b.String()
		}
		id = id[j:]
	}
}

// isLineTerminator reports whether Java's regular expressions end a line at r.
func isLineTerminator(r rune) bool {
	return r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}
