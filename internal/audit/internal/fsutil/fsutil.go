// Package durable writes files so that they survive a crash: whole or not
// at all, and fsynced (with their directory) before the call returns. It
// serves the ledger (internal/audit) and its exporters (internal/audit/export).
package fsutil

import (
	"errors"
	"fmt"
	"io"
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

// ErrTooLarge is wrapped by ReadFile's error for a file larger than allowed.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads the file at path, refusing (with an error wrapping
// ErrTooLarge) one longer than max bytes without reading more than
// max+1.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", path, ErrTooLarge, max)
	}
	return b, nil
}
