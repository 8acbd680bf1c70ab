package keeper

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// reservedPath is ZooKeeper's system subtree; writes there are refused.
const reservedPath = "/zookeeper"

// validatePath checks path against ZooKeeper's rules (PathUtils.validatePath):
// absolute, no empty component, no "." or ".." component, no trailing "/"
// except the root, no null or control character, nor one of the code points
// ZooKeeper refuses (U+007F–U+009F, U+D800–U+F8FF, U+FFF0–U+FFFF, and every
// code point above U+FFFF, which Java sees as surrogates). For a sequential
// create the path is checked as ZooKeeper does, with a digit appended, so
// "/parent/" is a valid sequential prefix. Errors match ErrInvalidPath.
func validatePath(path string, sequential bool) error {
	if path == "" {
		return fmt.Errorf("%w: path length must be > 0", ErrInvalidPath)
	}
	if path[0] != '/' {
		return fmt.Errorf("%w: %q: path must start with / character", ErrInvalidPath, path)
	}
	if len(path) == 1 && !sequential {
		return nil
	}
	rest := path[1:]
	for {
		i := strings.IndexByte(rest, '/')
		comp := rest
		if i >= 0 {
			comp = rest[:i]
		}
		last := i < 0
		if comp == "" {
			if last && sequential {
				return nil // "…/" + sequence digits
			}
			if last {
				return fmt.Errorf("%w: %q: path must not end with / character", ErrInvalidPath, path)
			}
			return fmt.Errorf("%w: %q: empty node name specified", ErrInvalidPath, path)
		}
		if (comp == "." || comp == "..") && !(last && sequential) {
			return fmt.Errorf("%w: %q: relative paths not allowed", ErrInvalidPath, path)
		}
		if err := validateName(comp); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrInvalidPath, path, err)
		}
		if last {
			return nil
		}
		rest = rest[i+1:]
	}
}

// validateName checks the characters of one path component.
func validateName(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return fmt.Errorf("null character not allowed at %d", i)
			}
			if c <= 0x1f || c == 0x7f {
				return fmt.Errorf("invalid character @%d", i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("invalid UTF-8 @%d", i)
		}
		if (r >= 0x7f && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || r >= 0xfff0 {
			return fmt.Errorf("invalid character @%d", i)
		}
		i += n
	}
	return nil
}

// isReserved reports whether path is /zookeeper or below it.
func isReserved(path string) bool {
	return strings.HasPrefix(path, reservedPath) && (len(path) == len(reservedPath) || path[len(reservedPath)] == '/')
}

// parentOf returns the parent of a valid path other than "/", and the last
// component. For a sequential create's raw path ("/a/") the name may be empty.
func parentOf(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/", path[i+1:]
	}
	return path[:i], path[i+1:]
}
