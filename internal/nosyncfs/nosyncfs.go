// Package nosyncfs is a Pebble file system whose syncs do nothing, for
// stores that are thrown away rather than recovered after a crash: the
// archive replay's scratch tree (storage.Options.Scratch) and the
// temporary tree of a ZooKeeper import (internal/zkfile). What is written
// reaches the page cache and, in time, the disk; nothing waits for it.
package nosyncfs

import "github.com/cockroachdb/pebble/v2/vfs"

// New returns fs with every sync of a file or a directory skipped.
func New(fs vfs.FS) vfs.FS { return noSyncFS{fs} }

type noSyncFS struct{ vfs.FS }

func (fs noSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return noSync(fs.FS.Create(name, c))
}

func (fs noSyncFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return noSync(fs.FS.Open(name, opts...))
}

func (fs noSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return noSync(fs.FS.OpenReadWrite(name, c, opts...))
}

func (fs noSyncFS) OpenDir(name string) (vfs.File, error) {
	return noSync(fs.FS.OpenDir(name))
}

func (fs noSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return noSync(fs.FS.ReuseForWrite(oldname, newname, c))
}

func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

// noSyncFile is a file of noSyncFS.
type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error                           { return nil }
func (noSyncFile) SyncData() error                       { return nil }
func (noSyncFile) SyncTo(int64) (fullSync bool, _ error) { return true, nil }
