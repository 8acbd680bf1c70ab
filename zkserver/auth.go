package zkserver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// addAuth adds an auth packet's identity to the connection, as ZooKeeper's
// addAuthInfo: the digest scheme ("user:password") is served; another
// scheme fails with AUTHFAILED, after which the connection closes.
func (c *conn) addAuth(p *jute.AuthPacket) error {
	if p.Scheme != "digest" {
		c.srv.stats.authFailed.Add(1)
		return fmt.Errorf("%w: scheme %q", errAuthFailed, p.Scheme)
	}
	// As ZooKeeper, any bytes: "user:password", or a user alone.
	id := keeper.Identity{Scheme: "digest", ID: string(p.Auth)}
	c.auth = append(c.auth, id)
	c.client = c.authed()
	return nil
}

// authed is the session's client with the connection's identities: its
// client's address, which ip ACL entries match, and those added by auth
// packets.
func (c *conn) authed() *keeper.Client {
	var ids []keeper.Identity
	if a, err := netip.ParseAddr(remoteHost(c.nc.RemoteAddr())); err == nil {
		ids = append(ids, keeper.IPIdentity(a.Unmap().String()))
	}
	return c.sess.WithAuth(append(ids, c.auth...)...)
}

// whoAmI lists the connection's identities as ZooKeeper's whoAmI does: the
// client's ip address, then each identity it added.
func (c *conn) whoAmI() []jute.ClientInfo {
	out := []jute.ClientInfo{{AuthScheme: "ip", User: remoteHost(c.nc.RemoteAddr())}}
	for _, id := range c.auth {
		user, _, _ := strings.Cut(id.ID, ":")
		out = append(out, jute.ClientInfo{AuthScheme: id.Scheme, User: user})
	}
	return out
}

func remoteHost(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
