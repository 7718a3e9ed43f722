package scan

// Walking the file system and telling text from binary.
//
// A directory is walked in lexical order. Symbolic links are never
// followed (a link to / must not turn a scan of a repository into a scan of
// the machine); .git directories are skipped unless asked for, because
// their objects are compressed and `coffer scan git` reads history properly.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// sniffSize is how much of the start of a stream decides whether it is
// binary and which archive format it is.
const sniffSize = 8 << 10

// maxInvalidUTF8 is the share of bytes in invalid UTF-8 sequences above
// which the start of a stream counts as binary.
const maxInvalidUTF8 = 0.30

// isBinary reports whether head (the first bytes of a stream) looks like
// binary data: it holds a NUL byte, or more than 30% of its bytes are not
// valid UTF-8. A rune cut off at the end of head is not held against it.
func isBinary(head []byte) bool {
	if len(head) > sniffSize {
		head = head[:sniffSize]
	}
	invalid := 0
	for i := 0; i < len(head); {
		if head[i] == 0 {
			return true
		}
		if head[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && size <= 1 {
			if len(head)-i < utf8.UTFMax && !utf8.FullRune(head[i:]) {
				break // a rune cut off by the sniff window
			}
			invalid++
			i++
			continue
		}
		i += size
	}
	return len(head) > 0 && float64(invalid)/float64(len(head)) > maxInvalidUTF8
}

// walkFiles calls visit for every regular file under root (or root itself
// when it is a file), in lexical order. Symlinks are not followed, .git
// directories are skipped unless includeGit, and errors on single entries
// go to warn without stopping the walk. It stops when ctx is done or visit
// returns an error.
func walkFiles(ctx context.Context, root string, includeGit bool, warn func(error), visit func(path string, size int64) error) error {
	info, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("scan %s: %w", root, err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		warn(fmt.Errorf("%s: symbolic link not followed", root))
		return nil
	}
	if !info.IsDir() {
		if !info.Mode().IsRegular() {
			warn(fmt.Errorf("%s: not a regular file, skipped", root))
			return nil
		}
		return visit(root, info.Size())
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			warn(fmt.Errorf("%s: %w", path, err))
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if d.Name() == ".git" && !includeGit && path != root {
				return fs.SkipDir
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return nil // never followed
		case !d.Type().IsRegular():
			return nil // sockets, devices, pipes
		}
		fi, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				warn(fmt.Errorf("%s: %w", path, err))
			}
			return nil
		}
		return visit(path, fi.Size())
	})
}

// readAllMax reads r to its end, failing when it holds more than max bytes.
func readAllMax(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

// readFileMax is os.ReadFile for a file of at most max bytes.
func readFileMax(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAllMax(f, max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}
