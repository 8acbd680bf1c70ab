package keeper

import (
	"context"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxMarkName is the longest name a mark may have, in bytes.
const maxMarkName = 256

// Mark writes a named point into the cluster's log, such as
// "before-migration", and returns its zxid. It changes no znode. An
// archive restores to it with AtMark(name): the tree as it was when the
// mark committed, with every write acknowledged before Mark was called and
// none proposed after it returned. Names need not be unique; AtMark finds
// the newest mark of a name.
//
// A name is 1 to 256 bytes of printable UTF-8; anything else is refused
// with an error matching ErrBadArguments. Like any write, Mark may fail
// with ErrNoLeader (nothing written) or ErrIndeterminate (perhaps written).
func (n *Node) Mark(ctx context.Context, name string) (Zxid, error) {
	r := request{Kind: reqMark, Time: time.Now().UnixMilli(), Name: name}
	payload, err := encodeRequest(nil, &r)
	if err != nil {
		return 0, err
	}
	res, err := n.propose(ctx, payload)
	if err != nil {
		return 0, connErr(err)
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return Zxid(res.Zxid), nil
}

// validateMarkName refuses a mark name Mark does not accept.
func validateMarkName(name string) error {
	if name == "" || len(name) > maxMarkName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: a mark name is 1 to %d bytes of UTF-8", ErrBadArguments, maxMarkName)
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("%w: mark name %q has an unprintable character", ErrBadArguments, name)
		}
	}
	return nil
}
