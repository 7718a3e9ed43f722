// Package durable writes files so that they survive a crash: whole or not
// at all, and fsynced (with their directory) before the call returns. It
// serves the ledger (internal/audit) and its exporters (internal/audit/export).
package durable

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path via the temporary file path+".tmp" (which
// callers skip when listing a directory), fsyncs it, renames it into place
// and fsyncs the directory. With excl it refuses to replace an existing
// file (an error wrapping fs.ErrExist). Callers serialise writes to one
// path.
func WriteFile(path string, data []byte, perm fs.FileMode, excl bool) error {
	if excl {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making the names created, renamed or
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
