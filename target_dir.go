package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/keeper-go/keeper/internal/ctxio"
)

// DirTarget returns a Target keeping its objects as files under dir, which
// it creates on first use. A Put writes a temp file beside its object,
// fsyncs it, and links it into place, which fails if the name is taken, so
// two writers never overwrite each other and a crash leaves either the
// whole object or none (a temp file left by a crash starts with ".tmp-"
// and is never listed, so DirTarget refuses names with an element that
// starts with ".tmp-"). The directories a Put creates are fsynced into
// their parents. The directory may be a mounted network file system that
// supports hard links.
func DirTarget(dir string) Target { return dirTarget{root: dir} }

type dirTarget struct{ root string }

// tempPrefix starts the names of the temp files Puts write.
const tempPrefix = ".tmp-"

func (d dirTarget) path(name string) (string, error) {
	if err := CheckTargetName(name); err != nil {
		return "", err
	}
	if strings.HasPrefix(name, tempPrefix) || strings.Contains(name, "/"+tempPrefix) {
		return "", fmt.Errorf("%w: %q: a directory target keeps its temp files under that name", ErrTargetName, name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

// isObject reports whether p is a regular file, the only thing that is an
// object; a directory that holds the objects under a name is not one.
func isObject(p string) (bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Mode().IsRegular(), nil
}

func (d dirTarget) Put(ctx context.Context, name string, r io.Reader) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if obj, err := isObject(p); err == nil && obj {
		return fmt.Errorf("%w: %s", ErrTargetExists, name)
	}
	dir := filepath.Dir(p)
	if err := mkdirSynced(dir); err != nil {
		return fmt.Errorf("keeper: archive dir: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("keeper: archive dir: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.Copy(f, ctxio.Reader(ctx, r))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keeper: archive put %s: %w", name, err)
	}
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if obj, _ := isObject(p); !obj {
				return fmt.Errorf("keeper: archive put %s: a directory has that name", name)
			}
			return fmt.Errorf("%w: %s", ErrTargetExists, name)
		}
		return fmt.Errorf("keeper: archive put %s: %w", name, err)
	}
	if err := fsyncDir(dir); err != nil {
		return fmt.Errorf("keeper: archive put %s: %w", name, err)
	}
	return nil
}

// mkdirSynced makes dir and its missing parents, fsyncing each new
// directory's parent so that the new entries survive a crash.
func mkdirSynced(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsyncDir(parent)
}

// fsyncDir fsyncs a directory so that the entries made in it are durable.
func fsyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d dirTarget) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("%w: %s", ErrTargetNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("keeper: archive get %s: %w", name, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("keeper: archive get %s: %w", name, err)
		}
		return nil, fmt.Errorf("%w: %s", ErrTargetNotFound, name)
	}
	return f, nil
}

func (d dirTarget) List(ctx context.Context, prefix string) ([]TargetObject, error) {
	var out []TargetObject
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == d.root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if e.IsDir() {
			// Skip directories that cannot hold a name with the prefix.
			if !strings.HasPrefix(prefix, name+"/") && !strings.HasPrefix(name+"/", prefix) {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tempPrefix) || !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, TargetObject{Name: name, Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keeper: archive list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b TargetObject) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (d dirTarget) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	obj, err := isObject(p)
	if err != nil && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("keeper: archive delete %s: %w", name, err)
	}
	if !obj {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keeper: archive delete %s: %w", name, err)
	}
	return nil
}
