// Package certs mints the certificates keeper's TCP transport expects, for
// hosts with no PKI of their own: a cluster CA (ECDSA P-256, self-signed)
// and member certificates carrying the member identity URI SAN
//
//	keeper://<cluster id as 16 lowercase hex digits>/member/<decimal member id>
//
// and both the server and client extended key usages, since every member
// both dials and accepts. Hosts with their own PKI put the same URI SAN in
// their member certificates instead; the transport checks nothing else
// (no host names, no addresses).
//
// The CA's private key signs every member certificate: keep it off the
// members' hosts once they have their certificates.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keeper-go/keeper/internal/identity"
)

// ErrInvalid reports bad input: a zero id, a non-positive validity, PEM
// that does not hold a CA certificate and its key, a key that does not
// match, or a URI that is not a member identity.
var ErrInvalid = errors.New("certs: invalid")

// clockSkew backdates certificates, so a member whose clock is a little
// behind the minting host accepts them at once.
const clockSkew = 5 * time.Minute

// MemberURI returns the identity URI of member in cluster, the URI SAN
// every member certificate carries.
func MemberURI(clusterID, member uint64) string { return identity.URI(clusterID, member) }

// ParseMemberURI reads a member identity URI. Errors match ErrInvalid.
func ParseMemberURI(u *url.URL) (clusterID, member uint64, err error) {
	clusterID, member, err = identity.Parse(u)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return clusterID, member, nil
}

// CA is a cluster's certificate authority: its certificate and private key.
// The certificate carries the URI SAN keeper://<cluster id hex>, so a
// loaded CA knows its cluster.
type CA struct {
	cluster uint64
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// NewCA mints a self-signed CA for cluster clusterID, valid from now (less
// a few minutes for clock skew) for validFor.
func NewCA(clusterID uint64, validFor time.Duration) (*CA, error) {
	if clusterID == 0 {
		return nil, fmt.Errorf("%w: cluster id is zero", ErrInvalid)
	}
	if validFor <= 0 {
		return nil, fmt.Errorf("%w: validity %v is not positive", ErrInvalid, validFor)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(fmt.Sprintf("%s://%016x", identity.Scheme, clusterID))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("keeper cluster %016x CA", clusterID)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		URIs:                  []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return LoadCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
}

// LoadCA reads a CA written by CertPEM and KeyPEM. Errors match ErrInvalid.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrInvalid)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %w", ErrInvalid, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: certificate is not a CA", ErrInvalid)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%w: no key block", ErrInvalid)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		if k, err = x509.ParseECPrivateKey(kb.Bytes); err != nil {
			return nil, fmt.Errorf("%w: CA key: %w", ErrInvalid, err)
		}
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: CA key is not ECDSA", ErrInvalid)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%w: CA key does not match the certificate", ErrInvalid)
	}
	var cluster uint64
	for _, u := range cert.URIs {
		if u.Scheme == identity.Scheme && u.Path == "" && len(u.Host) == 16 {
			cluster, err = strconv.ParseUint(u.Host, 16, 64)
			if err != nil {
				cluster = 0
			}
		}
	}
	if cluster == 0 {
		return nil, fmt.Errorf("%w: CA certificate names no cluster (URI SAN %s://<cluster id hex>)", ErrInvalid, identity.Scheme)
	}
	return &CA{cluster: cluster, cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// ClusterID returns the cluster the CA signs members of.
func (c *CA) ClusterID() uint64 { return c.cluster }

// CertPEM returns the CA certificate, PEM-encoded: the CA file (or one
// entry of the CA bundle) every member trusts.
func (c *CA) CertPEM() []byte { return c.certPEM }

// KeyPEM returns the CA's private key, PEM-encoded (PKCS #8).
func (c *CA) KeyPEM() []byte { return c.keyPEM }

// Issue mints a certificate for member of the CA's cluster, valid from now
// (less a few minutes for clock skew) for validFor, with a new ECDSA P-256
// key. It returns both PEM-encoded.
func (c *CA) Issue(member uint64, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if member == 0 {
		return nil, nil, fmt.Errorf("%w: member id is zero", ErrInvalid)
	}
	if validFor <= 0 {
		return nil, nil, fmt.Errorf("%w: validity %v is not positive", ErrInvalid, validFor)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(MemberURI(c.cluster, member))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: member uri: %w", err)
	}
	now := time.Now()
	notAfter := now.Add(validFor)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: fmt.Sprintf("keeper member %d", member)},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create member certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// Files names the PEM files of one member, as WriteMemberFiles writes them.
// It converts to transport.TLSFiles: transport.TLSFiles(files).
type Files struct{ CA, Cert, Key string }

// WriteMemberFiles issues a certificate for member and writes, in dir,
// ca.pem (the CA certificate), member-<id>.pem and member-<id>-key.pem
// (mode 0600). Each file is replaced atomically (written aside, then
// renamed), so a member reloading them never reads half a file.
func WriteMemberFiles(dir string, ca *CA, member uint64, validFor time.Duration) (Files, error) {
	certPEM, keyPEM, err := ca.Issue(member, validFor)
	if err != nil {
		return Files{}, err
	}
	f := Files{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, fmt.Sprintf("member-%d.pem", member)),
		Key:  filepath.Join(dir, fmt.Sprintf("member-%d-key.pem", member)),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{f.CA, ca.CertPEM(), 0o644}, {f.Cert, certPEM, 0o644}, {f.Key, keyPEM, 0o600}} {
		if err := WriteFileAtomic(w.path, w.data, w.mode); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// WriteFileAtomic writes data to path by writing a temporary file beside it,
// syncing it and renaming it over path, so readers see the old file or the
// new one, never a mix. Use it to replace certificates a running member
// reloads.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return nil
}

// newSerial returns a random 128-bit certificate serial number.
func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial: %w", err)
	}
	return s, nil
}

// encodeKey PEM-encodes a private key as PKCS #8.
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
