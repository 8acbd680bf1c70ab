package keeper

import (
	"errors"
	"testing"
)

// ACL entries of the ip scheme, as ZooKeeper's IPAuthenticationProvider
// takes and matches them: an address or an address and a prefix length,
// matched against a client's address; never expanded by the auth scheme.
func TestIPACL(t *testing.T) {
	for _, id := range []string{"127.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "::1", "fe80::/10", "10.1.2.3/32"} {
		if err := validateACL([]ACL{{Perms: PermAll, Scheme: "ip", ID: id}}); err != nil {
			t.Errorf("ip:%s refused: %v", id, err)
		}
	}
	for _, id := range []string{"", "host", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/x", "::1/129", "1.2.3"} {
		if err := validateACL([]ACL{{Perms: PermAll, Scheme: "ip", ID: id}}); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("ip:%q: %v, want ErrInvalidACL", id, err)
		}
	}
	acl := []ACL{{Perms: PermRead, Scheme: "ip", ID: "10.0.0.0/8"}, {Perms: PermAll, Scheme: "ip", ID: "127.0.0.1"}}
	for _, c := range []struct {
		addr string
		perm Perm
		ok   bool
	}{
		{"10.9.8.7", PermRead, true},
		{"10.9.8.7", PermWrite, false},
		{"11.0.0.1", PermRead, false},
		{"127.0.0.1", PermWrite, true},
		{"127.0.0.2", PermRead, false},
		{"::1", PermRead, false},
	} {
		err := checkACL(acl, c.perm, []Identity{IPIdentity(c.addr)})
		if (err == nil) != c.ok {
			t.Errorf("client %s, perm %v: %v, want allowed %v", c.addr, c.perm, err, c.ok)
		}
	}
	ids, err := authenticate([]Identity{IPIdentity("10.0.0.1")})
	if err != nil || len(ids) != 1 {
		t.Fatalf("authenticate ip: %v %v", ids, err)
	}
	if _, err := authenticate([]Identity{IPIdentity("not-an-address")}); !errors.Is(err, ErrBadArguments) {
		t.Fatalf("authenticate of a bad ip identity: %v", err)
	}
	if _, err := fixupACL([]ACL{{Perms: PermAll, Scheme: "auth"}}, []Identity{IPIdentity("10.0.0.1")}); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("auth ACL with only an ip identity: %v, want ErrInvalidACL", err)
	}
}
