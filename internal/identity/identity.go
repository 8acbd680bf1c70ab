// Package identity is the member identity that keeper's TCP transport binds
// to a certificate: a URI SAN naming the cluster and the member,
//
//	keeper://<cluster id as 16 lowercase hex digits>/member/<decimal member id>
//
// for example keeper://00000000000000ff/member/3.
package identity

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Scheme is the URI scheme of a member identity.
const Scheme = "keeper"

// ErrNotIdentity reports a URI that is not a well-formed member identity.
var ErrNotIdentity = errors.New("identity: not a keeper member uri")

// URI returns the identity URI of member in cluster.
func URI(cluster, member uint64) string {
	return fmt.Sprintf("%s://%016x/member/%d", Scheme, cluster, member)
}

// Parse reads a member identity URI. Both ids must be non-zero.
func Parse(u *url.URL) (cluster, member uint64, err error) {
	if u == nil || u.Scheme != Scheme {
		return 0, 0, fmt.Errorf("%w: scheme is not %q", ErrNotIdentity, Scheme)
	}
	if u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return 0, 0, fmt.Errorf("%w: %q has extra parts", ErrNotIdentity, u.String())
	}
	host := u.Host
	if len(host) != 16 {
		return 0, 0, fmt.Errorf("%w: cluster %q is not 16 hex digits", ErrNotIdentity, host)
	}
	cluster, err = strconv.ParseUint(host, 16, 64)
	if err != nil || strings.ToLower(host) != host {
		return 0, 0, fmt.Errorf("%w: cluster %q is not 16 lowercase hex digits", ErrNotIdentity, host)
	}
	rest, ok := strings.CutPrefix(u.Path, "/member/")
	if !ok {
		return 0, 0, fmt.Errorf("%w: path %q is not /member/<id>", ErrNotIdentity, u.Path)
	}
	member, err = strconv.ParseUint(rest, 10, 64)
	if err != nil || strconv.FormatUint(member, 10) != rest {
		return 0, 0, fmt.Errorf("%w: member %q is not a decimal id", ErrNotIdentity, rest)
	}
	if cluster == 0 || member == 0 {
		return 0, 0, fmt.Errorf("%w: zero cluster or member id", ErrNotIdentity)
	}
	return cluster, member, nil
}

// Find returns the one member identity among uris. It fails when there is
// none, when there are several, or when a keeper URI is malformed.
func Find(uris []*url.URL) (cluster, member uint64, err error) {
	found := false
	for _, u := range uris {
		if u == nil || u.Scheme != Scheme {
			continue
		}
		if found {
			return 0, 0, fmt.Errorf("%w: more than one keeper uri", ErrNotIdentity)
		}
		cluster, member, err = Parse(u)
		if err != nil {
			return 0, 0, err
		}
		found = true
	}
	if !found {
		return 0, 0, fmt.Errorf("%w: no keeper uri", ErrNotIdentity)
	}
	return cluster, member, nil
}
