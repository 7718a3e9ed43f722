package audit

// Serving the public part of the ledger. The ledger directory mixes files
// anyone may read (the C2SP tlog-tiles checkpoint and tiles, and the
// checkpoint history) with private ones (the signing key, the leaf and
// payload segments). LedgerHandler serves the public files and nothing
// else: a request path is accepted only if it is, byte for byte, the
// canonical name of a public file, so traversal ("..", "%2e%2e"), other
// spellings of a tile index, temporary files and every private path are
// refused before the file system is touched. Every URL maps to one static
// file, so the same tree can equally be mirrored to any static host, and
// VerifyRemote verifies either.

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Cache-Control values. Full tiles and history checkpoints never change
// once written; the latest checkpoint and partial tiles are superseded as
// the log grows.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNoCache   = "no-cache"
)

// maxCheckpointSize bounds a checkpoint note (C2SP tlog-checkpoint notes
// are a few hundred bytes; this leaves room for many cosignatures).
const maxCheckpointSize = 64 << 10

// publicFile describes how one public file is served.
type publicFile struct {
	contentType  string
	cacheControl string
	maxSize      int64
}

// parsePublicPath reports whether p (relative to the ledger directory,
// slash-separated) is the canonical name of a public ledger file:
//
//	checkpoint
//	checkpoints/<20 decimal digits>
//	tile/<L>/<N>[.p/<W>]
//	tile/entries/<N>[.p/<W>]
func parsePublicPath(p string) (publicFile, bool) {
	const text = "text/plain; charset=utf-8"
	if p == "checkpoint" {
		return publicFile{text, cacheNoCache, maxCheckpointSize}, true
	}
	if seq, ok := strings.CutPrefix(p, "checkpoints/"); ok {
		if len(seq) != 20 || strings.Trim(seq, "0123456789") != "" {
			return publicFile{}, false
		}
		return publicFile{text, cacheImmutable, maxCheckpointSize}, true
	}
	t, ok := parseTilePath(p)
	if !ok {
		return publicFile{}, false
	}
	f := publicFile{"application/octet-stream", cacheImmutable, tileSize(t)}
	if t.W < tileWidth {
		f.cacheControl = cacheNoCache
	}
	return f, true
}

// parseTilePath parses a C2SP tile path ("tile/0/x001/234",
// "tile/entries/000.p/5"); only the canonical spelling is accepted.
func parseTilePath(p string) (tlog.Tile, bool) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return tlog.Tile{}, false
	}
	goPath := "tile/8/" + rest // the Go checksum database's spelling
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		goPath = "tile/8/data/" + r
	}
	t, err := tlog.ParseTilePath(goPath)
	if err != nil || t.H != tileHeight || t.L > 8 || tilePath(t) != p {
		return tlog.Tile{}, false
	}
	return t, true
}

// tileSize is the exact size of tile t in a Coffer ledger (entries are
// always 32 bytes, each with a 2-byte length).
func tileSize(t tlog.Tile) int64 {
	if t.L < 0 {
		return int64(t.W) * (2 + entrySize)
	}
	return int64(t.W) * tlog.HashSize
}

// LedgerHandler returns a read-only handler for the public files of the
// ledger in dir, addressed by their path relative to dir (a leading "/"
// is ignored): mount it under a prefix with http.StripPrefix, e.g.
//
//	mux.Handle("GET /ledger/", http.StripPrefix("/ledger", audit.LedgerHandler(dir)))
//
// It answers GET and HEAD (with Range and conditional requests) for the
// latest checkpoint, the checkpoint history and the tiles, with
// Content-Type text/plain for checkpoints and application/octet-stream
// for tiles, and Cache-Control immutable for full tiles and history
// checkpoints, no-cache for the latest checkpoint and partial tiles. Any
// other path, including the signing key, log/ and payloads/, is 404, as
// is a public name that is not a regular file (a symbolic link, say).
func LedgerHandler(dir string) http.Handler {
	return ledgerHandler{dir: dir}
}

type ledgerHandler struct{ dir string }

func (h ledgerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	pf, ok := parsePublicPath(name)
	if !ok {
		notFound(w)
		return
	}
	f, fi, err := openPublic(h.dir, name)
	if err != nil {
		notFound(w)
		return
	}
	defer f.Close()
	if fi.Size() > pf.maxSize {
		// Not a file the ledger wrote.
		notFound(w)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", pf.contentType)
	hd.Set("Cache-Control", pf.cacheControl)
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

func notFound(w http.ResponseWriter) {
	// A file that is missing now (a checkpoint not yet issued, a tile not
	// yet written) may exist soon: do not let caches keep the 404.
	w.Header().Set("Cache-Control", cacheNoCache)
	http.Error(w, "not found", http.StatusNotFound)
}

// openPublic opens the regular file name under dir. No component may be
// a symbolic link, and the open cannot escape dir (os.Root).
func openPublic(dir, name string) (*os.File, fs.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		fi, err := root.Lstat(d)
		if err != nil {
			return nil, nil, err
		}
		if !fi.IsDir() { // a symlink, for one
			return nil, nil, fs.ErrNotExist
		}
	}
	lfi, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fs.ErrNotExist
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, lfi) {
		f.Close()
		return nil, nil, errors.Join(err, fs.ErrNotExist)
	}
	return f, fi, nil
}
