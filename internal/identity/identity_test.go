package identity

import (
	"errors"
	"net/url"
	"testing"
)

func TestFind(t *testing.T) {
	mk := func(ss ...string) []*url.URL {
		var us []*url.URL
		for _, s := range ss {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, u)
		}
		return us
	}
	c, m, err := Find(mk("https://example.com", URI(3, 4)))
	if err != nil || c != 3 || m != 4 {
		t.Fatalf("Find: %d %d %v", c, m, err)
	}
	for name, us := range map[string][]*url.URL{
		"none":      mk("https://example.com"),
		"two":       mk(URI(3, 4), URI(3, 5)),
		"malformed": mk("keeper://3/member/4"),
	} {
		if _, _, err := Find(us); !errors.Is(err, ErrNotIdentity) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// is exactly what URI writes for the same ids.
func FuzzParse(f *testing.F) {
	f.Add(URI(1, 2))
	f.Add(URI(0xffffffffffffffff, 0xffffffffffffffff))
	f.Add("keeper://00000000000000ff/member/03")
	f.Add("keeper://00000000000000FF/member/3")
	f.Add("keeper:opaque")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		c, m, err := Parse(u)
		if err != nil {
			if !errors.Is(err, ErrNotIdentity) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if got := URI(c, m); got != u.String() {
			t.Fatalf("accepted %q, which URI writes as %q", u.String(), got)
		}
	})
}
