package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/keeper-go/keeper/internal/identity"
)

// serverName is the fixed name a dialler puts in its TLS ClientHello. Peers
// are identified by the member URI in their certificate, never by a host
// name or address, so the name carries nothing.
const serverName = "keeper"

// serverTLS returns the tls.Config for incoming connections: TLS 1.3, a
// client certificate required and verified against the current CA bundle
// in VerifyConnection (which also runs on resumed sessions; tickets are
// off anyway, so every connection makes a full handshake), the certificate
// read from the current material.
func (t *TCP) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		ClientAuth:             tls.RequestClientCert,
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.mat.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, 0)
			return err
		},
	}
}

// clientTLS returns the tls.Config to dial member want: TLS 1.3, the
// server's chain verified against the current CA bundle and its identity
// checked to be want in VerifyConnection. The standard verification is off
// (InsecureSkipVerify) because it checks host names and reads a fixed
// pool; VerifyConnection does the chain verification itself.
func (t *TCP) clientTLS(want uint64) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         serverName,
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return t.mat.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, want)
			return err
		},
	}
}

// verifyPeer verifies a peer's chain against the current CA bundle and
// returns the member its certificate names. want is the member dialled, or
// 0 on the accepting side, where any configured peer is accepted. Every
// failure is a *RefusalError.
func (t *TCP) verifyPeer(chain []*x509.Certificate, usage x509.ExtKeyUsage, want uint64) (uint64, error) {
	if len(chain) == 0 {
		return 0, refuse(want, ReasonNoCertificate, errors.New("peer sent no certificate"))
	}
	if err := verifyChain(t.mat.Load().pool, chain, usage, time.Now()); err != nil {
		return 0, refuse(want, chainReason(err), err)
	}
	cluster, member, err := identity.Find(chain[0].URIs)
	if err != nil {
		return 0, refuse(want, ReasonNoIdentity, err)
	}
	if cluster != t.cfg.ClusterID {
		return 0, refuse(member, ReasonOtherCluster, fmt.Errorf("certificate names cluster %016x", cluster))
	}
	if want != 0 && member != want {
		return 0, refuse(want, ReasonWrongMember, fmt.Errorf("dialled member %d, certificate names member %d", want, member))
	}
	if want == 0 && !t.knownPeer(member) {
		return 0, refuse(member, ReasonUnknownMember, fmt.Errorf("member %d is not a peer", member))
	}
	return member, nil
}

// chainReason classifies a chain verification error.
func chainReason(err error) Reason {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return ReasonUnknownCA
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		return ReasonExpired
	}
	return ReasonBadCertificate
}

// handshakeRefusal turns a failed handshake into a refusal: one of ours
// from VerifyConnection, a peer's TLS alert, a non-TLS client, or another
// handshake failure.
func handshakeRefusal(peer uint64, err error) *RefusalError {
	var re *RefusalError
	if errors.As(err, &re) {
		return re
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return refuse(peer, ReasonNotTLS, err)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return refuse(peer, ReasonByPeer, err)
	}
	return refuse(peer, ReasonHandshake, err)
}

// revoke closes live connections whose peer chain does not verify against
// the material m just swapped in.
func (t *TCP) revoke(m *material) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for lc := range t.live {
		if len(lc.chain) == 0 {
			continue
		}
		usage := x509.ExtKeyUsageServerAuth
		if lc.inbound {
			usage = x509.ExtKeyUsageClientAuth
		}
		if err := verifyChain(m.pool, lc.chain, usage, now); err != nil {
			t.stats.refused(t.log, lc.remote(), refuse(lc.peer, ReasonRevoked, err))
			lc.conn.Close()
		}
	}
}
