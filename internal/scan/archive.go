package scan

// Archives inside what is scanned: zip, tar, gzip (and so tar.gz / tgz),
// nested up to Options.MaxDepth levels.
//
// Expansion is bounded three ways, all per top-level input (one file on
// disk, stdin, one image layer):
//
//   - total expanded bytes (Options.MaxArchiveBytes),
//   - the expansion ratio of one entry or gzip stream (Options.MaxArchiveRatio),
//     measured on the bytes actually produced, not on what headers claim,
//   - the number of entries (Options.MaxArchiveEntries).
//
// Crossing a bound stops that entry (or archive) and reports a finding of
// type "archive:bomb" naming it; the rest of the input is still scanned
// where that is possible. Nothing is ever expanded into memory beyond one
// nested zip of at most maxZipInMemory bytes (larger ones are spooled to a
// temporary file, still bounded by the byte budget).

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"
)

// archiveKind is the container format recognised at the start of a stream.
type archiveKind int

const (
	notArchive archiveKind = iota
	kindZip
	kindTar
	kindGzip
)

func (k archiveKind) String() string {
	switch k {
	case kindZip:
		return "zip"
	case kindTar:
		return "tar"
	case kindGzip:
		return "gzip"
	}
	return "none"
}

// sniffArchive tells the archive format from the first bytes of a stream.
func sniffArchive(head []byte) archiveKind {
	switch {
	case len(head) >= 4 && head[0] == 'P' && head[1] == 'K' &&
		((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)):
		return kindZip
	case len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8:
		return kindGzip
	case len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
		return kindTar
	}
	return notArchive
}

// bombMinBytes is the expanded size below which the ratio bound does not
// apply: small, very compressible files (a run of spaces) are not bombs.
const bombMinBytes = 1 << 20

// maxZipInMemory is the largest nested zip read into memory; larger ones
// are spooled to a temporary file (zip needs random access).
const maxZipInMemory = 4 << 20

// budget is what is left of the expansion bounds of one top-level input.
// It belongs to one goroutine.
type budget struct {
	bytes   int64 // expanded bytes still allowed
	entries int   // archive entries still allowed
}

// errBomb is returned (wrapped in *bombError) when an expansion bound is
// crossed.
var errBomb = errors.New("archive expansion bound crossed")

// bombError says which bound was crossed. The innermost scanContent that
// sees it reports it (and sets reported); outer levels only pass it on
// while the whole input's budget is spent.
type bombError struct {
	reason   string
	reported bool
}

func (e *bombError) Error() string { return "archive bomb: " + e.reason }
func (e *bombError) Unwrap() error { return errBomb }

// expandReader counts the bytes an archive entry expands to and stops it
// at the byte budget and, when compressed is known, at the ratio bound.
type expandReader struct {
	r          io.Reader
	err        *bombError // sticky once a bound is crossed
	b          *budget
	n          int64
	compressed func() int64 // compressed bytes consumed so far; nil: no ratio bound
	ratio      int64
}

func (e *expandReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.b.bytes <= 0 {
		e.err = &bombError{reason: "total expanded size over the --max-archive-bytes limit"}
		return 0, e.err
	}
	if int64(len(p)) > e.b.bytes {
		p = p[:e.b.bytes]
	}
	n, err := e.r.Read(p)
	e.n += int64(n)
	e.b.bytes -= int64(n)
	if e.compressed != nil && e.n > bombMinBytes {
		c := max(e.compressed(), 1)
		if e.n/c > e.ratio {
			e.err = &bombError{reason: fmt.Sprintf("expands more than %d:1 (%d bytes from %d)", e.ratio, e.n, c)}
			return n, e.err
		}
	}
	return n, err
}

// ratioReader holds the decompressed stream r to the ratio bound against
// the compressed bytes counted by compressed, and to no byte budget.
func ratioReader(r io.Reader, compressed *countReader, ratio int64) io.Reader {
	return &expandReader{r: r, b: &budget{bytes: math.MaxInt64},
		compressed: func() int64 { return compressed.n }, ratio: ratio}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// expand scans the entries of an archive of the given kind. br holds the
// archive from its start; ra, when not nil, gives random access to the
// same bytes (size of them), which saves spooling a zip.
func (s *Scanner) expand(ctx context.Context, kind archiveKind, br *bufio.Reader, ra io.ReaderAt, size int64, o origin, depth int, b *budget) error {
	switch kind {
	case kindZip:
		return s.expandZip(ctx, br, ra, size, o, depth, b)
	case kindTar:
		return s.expandTar(ctx, br, o, depth, b)
	case kindGzip:
		return s.expandGzip(ctx, br, o, depth, b)
	}
	return fmt.Errorf("unknown archive kind %v", kind)
}

// expandTar scans every regular file of a tar stream.
func (s *Scanner) expandTar(ctx context.Context, r io.Reader, o origin, depth int, b *budget) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, errBomb) {
				return err
			}
			s.warnf("%s: tar: %v", o.display(), err)
			return nil
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse {
			continue
		}
		if b.entries--; b.entries < 0 {
			return &bombError{reason: "more entries than the archive entry limit"}
		}
		child := o.child(hdr.Name)
		er := &expandReader{r: tr, b: b}
		if err := s.scanContent(ctx, er, nil, hdr.Size, child, depth+1, b); err != nil {
			return err
		}
	}
}

// expandGzip scans the content of a gzip stream: a tar inside is expanded
// as one archive (tar.gz); anything else is scanned as the one file the
// gzip holds.
func (s *Scanner) expandGzip(ctx context.Context, r io.Reader, o origin, depth int, b *budget) error {
	cr := &countReader{r: r}
	zr, err := gzip.NewReader(cr)
	if err != nil {
		s.warnf("%s: gzip: %v", o.display(), err)
		return nil
	}
	defer zr.Close()
	er := &expandReader{r: zr, b: b, compressed: func() int64 { return cr.n }, ratio: s.opt.MaxArchiveRatio}
	inner := bufio.NewReaderSize(er, sniffSize+512)
	head, err := inner.Peek(sniffSize)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && err != bufio.ErrBufferFull {
		if errors.Is(err, errBomb) {
			return err
		}
		s.warnf("%s: gzip: %v", o.display(), err)
		return nil
	}
	if sniffArchive(head) == kindTar {
		return s.expandTar(ctx, inner, o, depth, b)
	}
	name := zr.Name
	if name == "" {
		name = gunzipName(o.leaf())
	}
	return s.scanContent(ctx, inner, nil, -1, o.child(name), depth+1, b)
}

// gunzipName is the name of a gzip file's content: the name less .gz
// (x.tgz gives x.tar).
func gunzipName(name string) string {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	switch {
	case strings.HasSuffix(base, ".tgz"):
		return strings.TrimSuffix(base, ".tgz") + ".tar"
	case strings.HasSuffix(base, ".gz"):
		return strings.TrimSuffix(base, ".gz")
	}
	return base
}

// expandZip scans every file of a zip archive.
func (s *Scanner) expandZip(ctx context.Context, r io.Reader, ra io.ReaderAt, size int64, o origin, depth int, b *budget) error {
	if ra == nil || size < 0 {
		spooled, n, cleanup, err := spool(r, max(b.bytes, 0))
		if err != nil {
			return err
		}
		defer cleanup()
		ra, size = spooled, n
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		s.warnf("%s: zip: %v", o.display(), err)
		return nil
	}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() || !f.Mode().IsRegular() {
			continue
		}
		if b.entries--; b.entries < 0 {
			return &bombError{reason: "more entries than the archive entry limit"}
		}
		child := o.child(f.Name)
		// What the header claims is checked first: a bomb that says what
		// it is costs nothing to refuse.
		if f.UncompressedSize64 > bombMinBytes && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(s.opt.MaxArchiveRatio) {
			s.bomb(child, fmt.Sprintf("declares %d bytes from %d (over %d:1)", f.UncompressedSize64, f.CompressedSize64, s.opt.MaxArchiveRatio))
			continue
		}
		if f.UncompressedSize64 > uint64(max(b.bytes, 0)) {
			// The input's whole budget is spent: report here, stop it all.
			be := &bombError{reason: fmt.Sprintf("declares %d bytes, over what is left of the --max-archive-bytes limit", f.UncompressedSize64), reported: true}
			s.bomb(child, be.reason)
			b.bytes = 0
			return be
		}
		if f.Flags&0x1 != 0 {
			s.warnf("%s: encrypted zip entry not scanned", child.display())
			continue
		}
		rc, err := f.Open()
		if err != nil {
			s.warnf("%s: zip: %v", child.display(), err)
			continue
		}
		// The ratio is checked against the entry's compressed size: the
		// zip reader never reads more than that from the archive.
		comp := int64(f.CompressedSize64)
		er := &expandReader{r: rc, b: b, compressed: func() int64 { return comp }, ratio: s.opt.MaxArchiveRatio}
		err = s.scanContent(ctx, er, nil, int64(f.UncompressedSize64), child, depth+1, b)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// spool copies a zip read from a stream (stdin, or nested in another
// archive) into memory (up to maxZipInMemory) or a temporary file, so that
// zip can read it at random. A zip of more than limit bytes (what is left
// of the byte budget) is a *bombError: stdin is not otherwise bounded.
func spool(r io.Reader, limit int64) (io.ReaderAt, int64, func(), error) {
	tooBig := &bombError{reason: fmt.Sprintf("zip stream of more than %d bytes (what is left of the --max-archive-bytes limit)", limit)}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, min(maxZipInMemory, limit)+1))
	if err != nil {
		return nil, 0, nil, err
	}
	if n > limit {
		return nil, 0, nil, tooBig
	}
	if n <= maxZipInMemory {
		return bytes.NewReader(buf.Bytes()), n, func() {}, nil
	}
	f, err := os.CreateTemp("", "coffer-scan-*.zip")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool nested zip: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := f.Write(buf.Bytes()); err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("spool nested zip: %w", err)
	}
	m, err := io.Copy(f, io.LimitReader(r, limit-n+1))
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	if n+m > limit {
		cleanup()
		return nil, 0, nil, tooBig
	}
	return f, n + m, cleanup, nil
}
