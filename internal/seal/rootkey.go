package seal

// The root key file: 32 random bytes, nothing else, readable by the owner
// only. It is created once, at first start, with O_EXCL so two processes
// racing to create it cannot both win, and fsynced together with its
// directory so a crash right after start cannot lose the key that the
// keyring is already wrapped under.

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateRootKey reads the root key file at path, or creates it (random,
// mode 0600, fsynced) when it does not exist. It refuses a file with group or
// other permissions or of the wrong length.
func LoadOrCreateRootKey(path string) (k RootKey, created bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := writeRootKey(f, path, &k); err != nil {
			return RootKey{}, false, err
		}
		return k, true, nil
	case errors.Is(err, fs.ErrExist):
		k, err = readRootKey(path)
		if err != nil {
			return RootKey{}, false, err
		}
		return k, false, nil
	default:
		return RootKey{}, false, fmt.Errorf("seal: create root key file: %w", err)
	}
}

// writeRootKey fills k with random bytes and writes it to the freshly
// created file f. On failure it removes the file, so that the next start
// does not find a partial key.
func writeRootKey(f *os.File, path string, k *RootKey) (err error) {
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
			*k = RootKey{}
		}
	}()
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("seal: generate root key: %w", err)
	}
	if _, err := f.Write(k[:]); err != nil {
		return fmt.Errorf("seal: write root key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("seal: sync root key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("seal: close root key file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: sync directory of root key file %s: %w", path, err)
	}
	return nil
}

// readRootKey loads an existing root key file, checking its mode and length
// first. Errors name the path, never the content.
func readRootKey(path string) (RootKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: open root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: stat root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return RootKey{}, fmt.Errorf("seal: root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return RootKey{}, fmt.Errorf("seal: root key file %s has mode %#o; it must not be accessible to group or others (chmod 600)", path, perm)
	}
	var k RootKey
	if fi.Size() != int64(len(k)) {
		return RootKey{}, fmt.Errorf("seal: root key file %s is %d bytes, want %d", path, fi.Size(), len(k))
	}
	if _, err := io.ReadFull(f, k[:]); err != nil {
		return RootKey{}, fmt.Errorf("seal: read root key file %s: %w", path, err)
	}
	// The file may have grown between Stat and ReadFull.
	if n, _ := f.Read(make([]byte, 1)); n != 0 {
		return RootKey{}, fmt.Errorf("seal: root key file %s is longer than %d bytes", path, len(k))
	}
	if subtle.ConstantTimeCompare(k[:], make([]byte, len(k))) == 1 {
		return RootKey{}, fmt.Errorf("seal: root key file %s holds only zero bytes", path)
	}
	return k, nil
}

// syncDir fsyncs a directory so that a file just created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
