package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keeper-go/keeper/transport/certs"
)

// isInitFlag reports whether arg is the -init flag, which selects the
// certificate minting mode.
func isInitFlag(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	return strings.HasPrefix(arg, "-") && (name == "init" || strings.HasPrefix(name, "init="))
}

// runInit mints certificates for a cluster with no PKI of its own:
//
//	server -init DIR -cluster-id 7 -members 1,2,3 [-valid-for 8760h]
//
// writes DIR/ca.pem and DIR/ca-key.pem (a new cluster CA) and, per member,
// DIR/member-<id>.pem and DIR/member-<id>-key.pem, whose URI SAN names the
// cluster and the member. When DIR already holds ca.pem and ca-key.pem,
// that CA issues the certificates (a member added later); existing member
// files are never overwritten.
func runInit(args []string, stderr io.Writer) error {
	flags := newFlagSet("server -init", stderr)
	dir := flags.String("init", "", "directory to write the CA and member certificates to")
	var clusterID uint64
	flags.Var(clusterIDFlag{&clusterID}, "cluster-id", "the cluster's id (required)")
	members := flags.String("members", "", "member ids, comma-separated (required)")
	validFor := flags.Duration("valid-for", 5*365*24*time.Hour, "validity of the CA and of each certificate")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	ids, err := parseIDs(*members)
	switch {
	case err != nil:
		return err
	case *dir == "":
		return fmt.Errorf("%w: -init needs a directory", errUsage)
	case clusterID == 0:
		return fmt.Errorf("%w: -init needs -cluster-id", errUsage)
	case flags.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, flags.Arg(0))
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	for _, id := range ids {
		for _, f := range memberFiles(*dir, id) {
			switch _, err := os.Stat(f); {
			case err == nil:
				return fmt.Errorf("init: %s exists; member files are never overwritten", f)
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("init: %w", err)
			}
		}
	}
	ca, err := loadOrMintCA(*dir, clusterID, *validFor, stderr)
	if err != nil {
		return err
	}
	for _, id := range ids {
		cert, key, err := ca.Issue(id, *validFor)
		if err != nil {
			return fmt.Errorf("init: member %d: %w", id, err)
		}
		files := memberFiles(*dir, id)
		certFile := files[0]
		if err := writeNew(certFile, cert, 0o644); err != nil {
			return err
		}
		if err := writeNew(files[1], key, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s (%s) and its key\n", certFile, certs.MemberURI(clusterID, id))
	}
	return nil
}

// memberFiles returns the paths of member id's certificate and key in dir,
// as -certs expects them.
func memberFiles(dir string, id uint64) [2]string {
	return [2]string{
		filepath.Join(dir, fmt.Sprintf("member-%d.pem", id)),
		filepath.Join(dir, fmt.Sprintf("member-%d-key.pem", id)),
	}
}

// loadOrMintCA returns the CA in dir, or mints one and writes it there.
func loadOrMintCA(dir string, clusterID uint64, validFor time.Duration, stderr io.Writer) (*certs.CA, error) {
	caFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, err1 := os.ReadFile(caFile)
	keyPEM, err2 := os.ReadFile(keyFile)
	if err1 == nil && err2 == nil {
		ca, err := certs.LoadCA(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("init: %s: %w", caFile, err)
		}
		if ca.ClusterID() != clusterID {
			return nil, fmt.Errorf("%w: the CA in %s signs cluster %d, not %d", errUsage, caFile, ca.ClusterID(), clusterID)
		}
		fmt.Fprintf(stderr, "issuing with the CA in %s\n", caFile)
		return ca, nil
	}
	if !errors.Is(err1, fs.ErrNotExist) || !errors.Is(err2, fs.ErrNotExist) {
		return nil, fmt.Errorf("init: %s needs both ca.pem and ca-key.pem, or neither: %w", dir, errors.Join(err1, err2))
	}
	ca, err := certs.NewCA(clusterID, validFor)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := writeNew(caFile, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := writeNew(keyFile, ca.KeyPEM(), 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "wrote %s and %s (keep the key offline once every member has its certificate)\n", caFile, keyFile)
	return ca, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("init: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// parseIDs parses "1,2,3".
func parseIDs(s string) ([]uint64, error) {
	var ids []uint64
	seen := map[uint64]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.ParseUint(part, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%w: member id %q must be a positive integer", errUsage, part)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: member id %d given twice", errUsage, id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: -members needs at least one id", errUsage)
	}
	return ids, nil
}
