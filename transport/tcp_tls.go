package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/keeper-go/keeper/internal/identity"
)

// TLSSource supplies a member's TLS material: the cluster CA bundle and the
// member's certificate and key. NewTCP loads it once and Reload loads it
// again. Implementations are TLSFiles and TLSPEM.
type TLSSource interface {
	// load reads and parses the material.
	load() (*material, error)
}

// TLSFiles names PEM files: CA holds one or more CA certificates (a bundle
// of the old and the new CA while a CA is rotated), Cert the member's
// certificate (optionally followed by intermediates) and Key its private
// key (PKCS #8, PKCS #1 or EC). Reload reads the files again.
type TLSFiles struct{ CA, Cert, Key string }

// TLSPEM is TLSFiles' material in memory, as PEM bytes.
type TLSPEM struct{ CA, Cert, Key []byte }

func (f TLSFiles) load() (*material, error) {
	var pems [3][]byte
	for i, path := range []string{f.CA, f.Cert, f.Key} {
		if path == "" {
			return nil, fmt.Errorf("%w: TLSFiles has an empty path", ErrBadCertificate)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCertificate, err)
		}
		pems[i] = b
	}
	return TLSPEM{CA: pems[0], Cert: pems[1], Key: pems[2]}.load()
}

func (p TLSPEM) load() (*material, error) {
	pool := x509.NewCertPool()
	rest, n := p.CA, 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA bundle: %w", ErrBadCertificate, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: CA bundle holds no certificate", ErrBadCertificate)
	}
	cert, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate and key: %w", ErrBadCertificate, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: certificate: %w", ErrBadCertificate, err)
		}
	}
	chain := []*x509.Certificate{cert.Leaf}
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: intermediate certificate: %w", ErrBadCertificate, err)
		}
		chain = append(chain, c)
	}
	return &material{pool: pool, cert: &cert, chain: chain}, nil
}

// material is one generation of TLS material, swapped whole by Reload.
type material struct {
	pool  *x509.CertPool
	cert  *tls.Certificate // Leaf is set
	chain []*x509.Certificate
}

// check verifies that m can serve member id of cluster: its leaf names
// exactly that identity and chains to its own CA bundle now.
func (m *material) check(cluster, id uint64) error {
	leaf := m.cert.Leaf
	c, member, err := identity.Find(leaf.URIs)
	if err != nil {
		return fmt.Errorf("%w: certificate has no member identity (want URI SAN %s): %w",
			ErrBadCertificate, identity.URI(cluster, id), err)
	}
	if c != cluster {
		return fmt.Errorf("%w: certificate is for cluster %016x, not %016x", ErrBadCertificate, c, cluster)
	}
	if member != id {
		return fmt.Errorf("%w: certificate is for member %d, not %d", ErrBadCertificate, member, id)
	}
	if err := verifyChain(m.pool, m.chain, x509.ExtKeyUsageAny, time.Now()); err != nil {
		return fmt.Errorf("%w: certificate does not verify against the CA bundle: %w", ErrBadCertificate, err)
	}
	return nil
}

// verifyChain verifies chain (a leaf, then any intermediates) against
// roots at now for usage.
func verifyChain(roots *x509.CertPool, chain []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) error {
	var inter *x509.CertPool
	if len(chain) > 1 {
		inter = x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	return err
}

// loadMaterial loads src and checks it for this member.
func loadMaterial(src TLSSource, cluster, id uint64) (*material, error) {
	m, err := src.load()
	if err != nil {
		return nil, err
	}
	if err := m.check(cluster, id); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the TLSSource again and, when the new material is valid for
// this member, swaps it in atomically: new handshakes on both sides use the
// new certificate and CA bundle. Established connections stay, except those
// whose peer certificate no longer verifies against the new CA bundle,
// which are closed (counted as ReasonRevoked). On error the old material
// stays in use and the error (matching ErrBadCertificate) is returned. In
// Insecure mode Reload does nothing.
func (t *TCP) Reload() error {
	if t.cfg.Insecure {
		return nil
	}
	if t.isClosed() {
		return ErrClosed
	}
	m, err := loadMaterial(t.cfg.TLS, t.cfg.ClusterID, t.cfg.ID)
	if err != nil {
		return err
	}
	t.mat.Store(m)
	t.revoke(m)
	return nil
}
