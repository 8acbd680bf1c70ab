package keys

import "testing"

func TestKeyLayout(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "/a/b/c"} {
		got, ok := NodePath(NodeKey(nil, p))
		if !ok || got != p {
			t.Errorf("NodePath(NodeKey(%q)) = %q, %v", p, got, ok)
		}
		if n, ok := NodePathLen(NodeKey(nil, p)); !ok || n != len(p) {
			t.Errorf("NodePathLen(NodeKey(%q)) = %d, %v", p, n, ok)
		}
	}
	if string(ChildPrefix(nil, "/")) != "n\x00" || string(ChildPrefix(nil, "/a")) != "n/a\x00" {
		t.Error("child prefix")
	}
	if string(PrefixEnd([]byte("n\x00"))) != "n\x01" || PrefixEnd([]byte{0xff}) != nil {
		t.Error("prefix end")
	}
}
