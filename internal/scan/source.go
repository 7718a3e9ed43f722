package scan

// Sources: what a scan reads, and how it hands bytes to the engine.
//
// A Scanner turns inputs (paths, stdin, archives inside them, git history,
// container image layers) into chunks for the detection engine. Files are
// scanned in parallel by Options.Workers goroutines fed through a bounded
// queue; each worker reuses one pooled chunk buffer, so memory is bounded
// by Workers x (ChunkSize + Overlap), at most about 128 MiB by default,
// plus one nested zip of at most 4 MiB per worker (see archive.go),
// whatever the size of the input. Git history holds about 3 x Workers
// pieces of added lines, each of at most ChunkSize bytes or one line of at
// most 16 MiB (git.go).
//
// Large streams are read in chunks of ChunkSize bytes; each chunk starts
// with the last Overlap bytes of the one before, so a match that crosses a
// chunk border is seen whole. Each match belongs to the chunk in which it
// starts before the middle of the next overlap, so it is reported once.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Default source settings.
const (
	DefaultChunkSize         = 4 << 20
	DefaultOverlap           = 2 * MaxMatchLen
	DefaultMaxDepth          = 3
	DefaultMaxArchiveBytes   = 1 << 30
	DefaultMaxArchiveRatio   = 100
	DefaultMaxArchiveEntries = 100_000

	// maxChunkMemory bounds the chunk buffers of all workers together
	// when ChunkSize is left to its default; minChunkSize is the least a
	// chunk is shrunk to.
	maxChunkMemory = 128 << 20
	minChunkSize   = 256 << 10
)

// Options are the source-side settings of a scan. The zero value of each
// field means its default.
type Options struct {
	// IncludeBinary scans files that look binary (a NUL byte, or mostly
	// invalid UTF-8, in their first 8 KiB) instead of skipping them.
	IncludeBinary bool
	// IncludeGitDir walks into .git directories.
	IncludeGitDir bool
	// MaxDepth is how many archive levels are expanded (default 3);
	// negative expands none.
	MaxDepth int
	// MaxArchiveBytes bounds the bytes expanded from archives per
	// top-level input (default 1 GiB).
	MaxArchiveBytes int64
	// MaxArchiveRatio bounds the expansion ratio of one entry (default 100).
	MaxArchiveRatio int64
	// MaxArchiveEntries bounds the archive entries per top-level input.
	MaxArchiveEntries int
	// ChunkSize is how much of a stream the engine sees at once (4 MiB,
	// less when Workers x 4 MiB would pass 128 MiB).
	ChunkSize int
	// Overlap is how much of a chunk is seen again by the next one (4 KiB,
	// twice the engine's MaxMatchLen, so no match is lost at a border).
	Overlap int
	// Workers is the number of files scanned at once (runtime.NumCPU()).
	Workers int

	// OnFinding receives each finding. Calls are serialised.
	OnFinding func(Finding)
	// OnWarning receives what could not be scanned (unreadable files,
	// corrupt archives). Calls are serialised.
	OnWarning func(error)
	// OnProgress receives the number of bytes read since the last call.
	// It may be called from several goroutines at once.
	OnProgress func(n int64)
}

func (o Options) withDefaults() Options {
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if o.MaxArchiveRatio <= 0 {
		o.MaxArchiveRatio = DefaultMaxArchiveRatio
	}
	if o.MaxArchiveEntries <= 0 {
		o.MaxArchiveEntries = DefaultMaxArchiveEntries
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.ChunkSize <= 0 {
		// Keep all workers' chunk buffers within maxChunkMemory: on a
		// machine with many cores each gets a smaller chunk.
		o.ChunkSize = min(DefaultChunkSize, max(minChunkSize, maxChunkMemory/o.Workers))
	}
	if o.Overlap <= 0 {
		o.Overlap = DefaultOverlap
	}
	if o.Overlap >= o.ChunkSize {
		o.Overlap = o.ChunkSize / 2
	}
	if o.OnFinding == nil {
		o.OnFinding = func(Finding) {}
	}
	if o.OnWarning == nil {
		o.OnWarning = func(error) {}
	}
	if o.OnProgress == nil {
		o.OnProgress = func(int64) {}
	}
	return o
}

// chunkScanner is what the sources need from the detection engine.
type chunkScanner interface {
	ScanChunk(chunk []byte, base int64, loc Location) []Finding
}

// Scanner reads sources and feeds them to an engine.
type Scanner struct {
	engine chunkScanner
	opt    Options
	bufs   sync.Pool // *[]byte of ChunkSize+Overlap

	mu sync.Mutex // serialises OnFinding and OnWarning

	files   atomic.Int64 // files (and archive entries, layers' files) scanned
	skipped atomic.Int64 // binary files skipped

	// parent, when set, is the Scanner this one is a view of (one image
	// layer): warnings and counters go to it.
	parent *Scanner
}

// NewScanner returns a Scanner that feeds e with the given options.
func NewScanner(e *Engine, opt Options) *Scanner {
	return newScanner(e, opt)
}

func newScanner(e chunkScanner, opt Options) *Scanner {
	s := &Scanner{engine: e, opt: opt.withDefaults()}
	size := s.opt.ChunkSize + s.opt.Overlap
	s.bufs.New = func() any { b := make([]byte, size); return &b }
	return s
}

// counters is where files and skips are counted.
func (s *Scanner) counters() *Scanner {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// Stats are counters of a finished scan.
type Stats struct {
	Files   int64 // files scanned
	Skipped int64 // binary files skipped
}

// Stats returns the counters so far.
func (s *Scanner) Stats() Stats {
	if s.parent != nil {
		return s.parent.Stats()
	}
	return Stats{Files: s.files.Load(), Skipped: s.skipped.Load()}
}

func (s *Scanner) emit(f Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opt.OnFinding(f)
}

func (s *Scanner) warnf(format string, args ...any) {
	if s.parent != nil {
		s.parent.warnf(format, args...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opt.OnWarning(fmt.Errorf(format, args...))
}

// origin says where a stream comes from; location() turns it into the
// Location the engine and reports use.
type origin struct {
	path  string   // file scanned, "-" for stdin, path in an image or repository
	inner []string // entry names inside nested archives, outermost first

	image  string // image tarball or layout
	layer  string // layer digest
	commit string
	author string
	date   string
}

// child is the origin of an entry of the archive o.
func (o origin) child(name string) origin {
	c := o
	c.inner = append(append([]string(nil), o.inner...), name)
	return c
}

// leaf is the innermost name of o.
func (o origin) leaf() string {
	if n := len(o.inner); n > 0 {
		return o.inner[n-1]
	}
	return o.path
}

// archivePath is "outer.zip!inner/dir/file.env" for an entry of an
// archive, "" otherwise.
func (o origin) archivePath() string {
	if len(o.inner) == 0 {
		return ""
	}
	return o.path + "!" + strings.Join(o.inner, "!")
}

// display names o in warnings.
func (o origin) display() string {
	name := o.path
	if a := o.archivePath(); a != "" {
		name = a
	}
	if o.layer != "" {
		name = o.image + "@" + shortDigest(o.layer) + ":" + name
	}
	if o.commit != "" {
		name = shortDigest(o.commit) + ":" + name
	}
	return name
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// bomb reports an archive whose expansion crossed a bound.
func (s *Scanner) bomb(o origin, reason string) {
	s.emit(bombFinding(o, reason))
}

// ScanPaths scans files and directories, files in parallel. A path "-"
// reads stdin. Problems with single files go to OnWarning; the error is
// for what stops the whole scan (a path that does not exist, ctx).
func (s *Scanner) ScanPaths(ctx context.Context, paths []string, stdin io.Reader) error {
	type job struct {
		path string
		size int64
	}
	jobs, wait := startWorkers(s.opt.Workers, func(j job) {
		if ctx.Err() != nil {
			return // drain
		}
		if err := s.scanFile(ctx, j.path, j.size); err != nil && ctx.Err() == nil {
			s.warnf("%s: %v", j.path, err)
		}
	})
	var err error
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			if e := s.ScanReader(ctx, stdin, "-"); e != nil {
				err = e
				break
			}
			continue
		}
		e := walkFiles(ctx, p, s.opt.IncludeGitDir, func(w error) { s.warnf("%v", w) }, func(path string, size int64) error {
			return send(ctx, jobs, job{path, size})
		})
		if e != nil {
			err = e
			break
		}
	}
	wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// startWorkers starts n goroutines that call do on each job sent to jobs;
// wait closes jobs and waits for them.
func startWorkers[T any](n int, do func(T)) (jobs chan<- T, wait func()) {
	ch := make(chan T, 2*n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for j := range ch {
				do(j)
			}
		})
	}
	return ch, func() {
		close(ch)
		wg.Wait()
	}
}

// send sends j on jobs unless ctx ends first.
func send[T any](ctx context.Context, jobs chan<- T, j T) error {
	select {
	case jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scanFile scans one file on disk.
func (s *Scanner) scanFile(ctx context.Context, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	b := &budget{bytes: s.opt.MaxArchiveBytes, entries: s.opt.MaxArchiveEntries}
	return s.scanContent(ctx, f, f, size, origin{path: name}, 0, b)
}

// ScanReader scans one stream (stdin) as a file called name.
func (s *Scanner) ScanReader(ctx context.Context, r io.Reader, name string) error {
	b := &budget{bytes: s.opt.MaxArchiveBytes, entries: s.opt.MaxArchiveEntries}
	return s.scanContent(ctx, r, nil, -1, origin{path: name}, 0, b)
}

// scanContent scans one stream: an archive is expanded (while depth
// allows), a binary file is skipped (unless asked), text goes to the
// engine in chunks. ra and size give random access to the stream when it
// is a file. Read errors and broken archives become warnings; an archive
// bound crossed becomes an "archive:bomb" finding. The error returned is
// ctx's, or a bomb that spent the whole input's budget (so that enclosing
// archives stop too).
func (s *Scanner) scanContent(ctx context.Context, r io.Reader, ra io.ReaderAt, size int64, o origin, depth int, b *budget) error {
	err := s.scanContentErr(ctx, r, ra, size, o, depth, b)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var be *bombError
	if errors.As(err, &be) {
		if !be.reported {
			be.reported = true
			s.bomb(o, be.reason)
		}
		if b.bytes <= 0 || b.entries < 0 {
			return be
		}
		return nil
	}
	s.warnf("%s: %v", o.display(), err)
	return nil
}

func (s *Scanner) scanContentErr(ctx context.Context, r io.Reader, ra io.ReaderAt, size int64, o origin, depth int, b *budget) error {
	br := bufio.NewReaderSize(r, sniffSize+512)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	if kind := sniffArchive(head); kind != notArchive {
		if depth < s.opt.MaxDepth {
			return s.expand(ctx, kind, br, ra, size, o, depth, b)
		}
		if !s.opt.IncludeBinary {
			s.warnf("%s: %s archive nested deeper than --max-depth %d, not expanded", o.display(), kind, s.opt.MaxDepth)
			s.counters().skipped.Add(1)
			return nil
		}
	}
	if !s.opt.IncludeBinary && isBinary(head) {
		s.counters().skipped.Add(1)
		return nil
	}
	s.counters().files.Add(1)
	return s.scanStream(ctx, br, o)
}

// scanStream reads r in overlapping chunks and reports the engine's
// findings, each once.
func (s *Scanner) scanStream(ctx context.Context, r io.Reader, o origin) error {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	loc := o.location()

	var (
		base  int64 // stream offset of buf[0]
		carry int   // bytes at the start of buf from the chunk before
		lines int   // newlines before buf[0]
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(r, buf[carry:])
		s.opt.OnProgress(int64(n))
		total := carry + n
		last := rerr != nil
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			rerr = nil
		}
		if total > 0 {
			first := carry == 0
			for _, f := range s.engine.ScanChunk(buf[:total], base, withLineBase(loc, lines)) {
				if !Owns(findingStart(f), base, total, s.opt.Overlap, first, last) {
					continue
				}
				s.emit(f)
			}
		}
		if last {
			return rerr
		}
		keep := min(s.opt.Overlap, total)
		lines += bytes.Count(buf[:total-keep], []byte{'\n'})
		copy(buf, buf[total-keep:total])
		base += int64(total - keep)
		carry = keep
	}
}

// cleanPath is a slash path without a leading "./" or "/".
func cleanPath(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimPrefix(p, "/")
}
