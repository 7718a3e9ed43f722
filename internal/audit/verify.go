package audit

// Offline verification and proofs. Verify trusts nothing in the directory
// except, if no key is given, key.pub: it recomputes the tree from every
// leaf record, checks every stored checkpoint's signature, their order and
// that no two disagree (a fork), that each checkpoint's root is the root of
// the recomputed tree at its size (which implies consistency between
// consecutive checkpoints), that the published tiles match the records,
// and that each payload opens and matches its leaf commitment.
//
// Prove and Consistency read the published tiles through
// tlog.TileHashReader, which checks every tile it uses against the latest
// signed checkpoint, so a proof is only produced from verified hashes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrIntegrity is wrapped by every *VerifyError.
var ErrIntegrity = errors.New("audit: ledger integrity check failed")

// VerifyError names the first problem Verify found.
type VerifyError struct {
	// Index is the first bad ledger index, or -1 if the problem is not
	// with an entry (a checkpoint signature, for example).
	Index int64
	// Path is the file involved, relative to the ledger directory, if any.
	Path   string
	Reason string
}

func (e *VerifyError) Error() string {
	s := "audit: verify:"
	if e.Index >= 0 {
		s += fmt.Sprintf(" entry %d:", e.Index)
	}
	if e.Path != "" {
		s += " " + e.Path + ":"
	}
	return s + " " + e.Reason
}

func (e *VerifyError) Unwrap() error { return ErrIntegrity }

func verr(index int64, path, format string, args ...any) *VerifyError {
	return &VerifyError{Index: index, Path: path, Reason: fmt.Sprintf(format, args...)}
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// PublicKey is the note verifier key the checkpoints must be signed
	// with. Default: the directory's key.pub, which only proves the log is
	// self-consistent; pass the key published at first start to prove it is
	// the same log.
	PublicKey string
	// Sealer opens payloads. If nil, payloads are not checked.
	Sealer Sealer
	// RequireLatestWitnessed fails verification unless the latest
	// checkpoint itself has WitnessQuorum cosignatures (by default some
	// checkpoint must have them; see VerifyReport.WitnessedSize).
	RequireLatestWitnessed bool
	// Witnesses are the cosignature/v1 verifier keys of trusted
	// witnesses. Every stored cosignature by one of them must verify;
	// cosignatures by other keys are counted and ignored. If empty,
	// cosignatures are only checked to be well-formed.
	Witnesses []string
	// WitnessQuorum, if positive, requires the latest checkpoint to carry
	// valid cosignatures by at least this many distinct Witnesses.
	WitnessQuorum int
}

// VerifyReport summarises a successful verification.
type VerifyReport struct {
	Size            int64     // entries
	Root            tlog.Hash // root of the whole recomputed tree
	Checkpoints     int       // checkpoints checked
	LatestSize      int64     // size of the latest checkpoint
	TilesChecked    int       // full tiles compared with the records
	PayloadsChecked int64     // payloads opened and matched
	Erased          int64     // payloads of erased subjects (skipped)
	ErasedSubjects  []string  // subject ids with erased payloads
	// TrailingPayloads reports payload records after the last leaf (a
	// live writer, or an unacknowledged crash tail that Open will cut).
	TrailingPayloads bool
	// Cosignatures counts valid cosignatures by VerifyOptions.Witnesses,
	// UnknownCosignatures those by other keys (or all of them, unchecked,
	// when no witness keys were given).
	Cosignatures        int
	UnknownCosignatures int
	// LatestCosigners names the witnesses with a valid cosignature on
	// the latest checkpoint.
	LatestCosigners []string
	// WitnessedSize is the size of the latest checkpoint cosigned by at
	// least max(WitnessQuorum, 1) of the witnesses (0 if none).
	WitnessedSize int64
}

type namedCheckpoint struct {
	name string
	c    Checkpoint
}

// Verify checks the ledger in dir and returns the first problem as a
// *VerifyError (wrapping ErrIntegrity), or a report.
func Verify(ctx context.Context, dir string, opts VerifyOptions) (*VerifyReport, error) {
	vkey := opts.PublicKey
	if vkey == "" {
		var err error
		if vkey, err = ReadPublicKey(dir); err != nil {
			return nil, err
		}
	}
	cps, err := verifyCheckpoints(dir, vkey)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Checkpoints: len(cps)}
	for _, c := range cps {
		rep.LatestSize = max(rep.LatestSize, c.c.Tree.N)
	}
	if err := verifyCosignatures(dir, vkey, opts, rep); err != nil {
		return nil, err
	}

	// The tree pass and the payload pass read the records independently
	// and run in parallel; the first bad index of either wins.
	var payErr error
	payDone := make(chan struct{})
	if opts.Sealer != nil {
		go func() {
			defer close(payDone)
			payErr = verifyPayloads(ctx, dir, opts.Sealer, rep)
		}()
	} else {
		close(payDone)
	}
	treeErr := verifyTree(ctx, dirSource{dir}, cps, rep, false)
	<-payDone
	return rep, firstError(treeErr, payErr)
}

func firstError(errs ...error) error {
	var best error
	var bestIdx int64 = 1<<63 - 1
	for _, err := range errs {
		if err == nil {
			continue
		}
		var ve *VerifyError
		if !errors.As(err, &ve) {
			return err // an I/O or context error
		}
		if best == nil || (ve.Index >= 0 && ve.Index < bestIdx) {
			best, bestIdx = err, ve.Index
			if ve.Index < 0 {
				bestIdx = 1<<63 - 1
			}
		}
	}
	return best
}

// verifyCheckpoints checks signatures, order and forks, and returns the
// checkpoints in issue order.
func verifyCheckpoints(dir, vkey string) ([]namedCheckpoint, error) {
	hist, err := readCheckpointHistory(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, verr(-1, "checkpoints", "%v", err)
	}
	latest, err := fsutil.ReadFile(filepath.Join(dir, "checkpoint"), maxCheckpointSize)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, verr(-1, "checkpoint", "larger than %d bytes", maxCheckpointSize)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cps, err := checkCheckpoints(hist, latest, vkey)
	if err != nil || latest == nil {
		return cps, err
	}
	// What follows the log's note in the published checkpoint are the
	// witness cosignatures stored for it (verified with the rest of
	// cosignatures/).
	last := hist[len(hist)-1]
	stored := make(map[string]bool)
	for _, line := range readCosignatures(dir, last.seq) {
		stored[string(line)] = true
	}
	for _, line := range splitLines(latest[len(last.data):]) {
		if !stored[string(line)] {
			return nil, verr(-1, "checkpoint", "published checkpoint carries a signature that is not in cosignatures/%s", segmentName(last.seq))
		}
	}
	return cps, nil
}

// checkCheckpoints checks the checkpoint history hist (in issue order) and
// the published latest checkpoint (nil if there is none).
func checkCheckpoints(hist []storedCheckpoint, latest []byte, vkey string) ([]namedCheckpoint, error) {
	var cps []namedCheckpoint
	bySize := make(map[int64]namedCheckpoint)
	for i, h := range hist {
		c, err := OpenCheckpoint(h.data, vkey)
		if err != nil {
			return nil, verr(-1, h.name, "checkpoint does not verify: %v", err)
		}
		nc := namedCheckpoint{h.name, c}
		if prev, ok := bySize[c.Tree.N]; ok && prev.c.Tree.Hash != c.Tree.Hash {
			return nil, verr(-1, h.name, "fork: %s and %s both sign tree size %d with different roots", prev.name, h.name, c.Tree.N)
		}
		if i > 0 && c.Tree.N < cps[i-1].c.Tree.N {
			return nil, verr(-1, h.name, "tree size goes backwards: %d after %d in %s", c.Tree.N, cps[i-1].c.Tree.N, cps[i-1].name)
		}
		bySize[c.Tree.N] = nc
		cps = append(cps, nc)
	}
	if latest != nil {
		if _, err := OpenCheckpoint(latest, vkey); err != nil {
			return nil, verr(-1, "checkpoint", "checkpoint does not verify: %v", err)
		}
		if len(hist) == 0 || !bytes.HasPrefix(latest, hist[len(hist)-1].data) {
			return nil, verr(-1, "checkpoint", "published checkpoint is not the latest in checkpoints/")
		}
	}
	return cps, nil
}

// A treeSource is where verifyTree reads a ledger from: its entries in
// index order and its published tiles. Verify reads a directory
// (dirSource), VerifyRemote a tlog-tiles server (httpSource).
type treeSource interface {
	// forEachEntry calls fn with every entry in index order and the file
	// it comes from; it reports a bad record as a *VerifyError.
	forEachEntry(ctx context.Context, fn func(n int64, entry []byte, path string) error) error
	// readTile returns the published tile t, or an error wrapping
	// fs.ErrNotExist if it is not published.
	readTile(ctx context.Context, t tlog.Tile) ([]byte, error)
}

// dirSource reads the leaf records and tiles of a ledger directory.
type dirSource struct{ dir string }

func (d dirSource) forEachEntry(ctx context.Context, fn func(n int64, entry []byte, path string) error) error {
	return forEachRecord(ctx, d.dir, func(n int64, rec []byte, path string) error {
		if !checkLogRecord(rec, n) {
			return verr(n, path, "record checksum mismatch (corrupt, dropped or reordered record)")
		}
		return fn(n, rec[:entrySize], path)
	})
}

func (d dirSource) readTile(_ context.Context, t tlog.Tile) ([]byte, error) {
	b, err := readTileFile(d.dir, t)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, verr(tileStart(t), tilePath(t), "larger than %d bytes", tileSize(t))
	}
	return b, err
}

// readTileFile reads tile t from dir, at most the size it must have.
func readTileFile(dir string, t tlog.Tile) ([]byte, error) {
	return fsutil.ReadFile(filepath.Join(dir, filepath.FromSlash(tilePath(t))), tileSize(t))
}

// verifyTree recomputes the tree from the entries of src, checks it
// against the checkpoints and the published full tiles, and, if
// checkPartial, the partial tiles of the latest checkpoint's tree.
//
// A published tile that differs from the recomputed one is blamed on the
// tile once the entries are known to be right, at the next checkpoint
// whose root they match. If they do not match it, the first leaf the tile
// disagrees with is named as the first bad entry.
func verifyTree(ctx context.Context, src treeSource, cps []namedCheckpoint, rep *VerifyReport, checkPartial bool) error {
	// Checkpoint sizes in increasing order; equal sizes were checked above.
	sorted := slices.Clone(cps)
	slices.SortStableFunc(sorted, func(a, b namedCheckpoint) int { return cmpInt(a.c.Tree.N, b.c.Tree.N) })
	var fr frontier
	var tl tiler
	var full []tileData
	var tileErr *VerifyError // first published tile that differs
	var tileErrLevel int
	var spans []entrySpan // which file each entry came from, since lastGood
	next, lastGood := 0, int64(0)
	checkRoots := func() error {
		for next < len(sorted) && sorted[next].c.Tree.N == fr.n {
			root, err := fr.root()
			if err != nil {
				return err
			}
			if root != sorted[next].c.Tree.Hash {
				if tileErr != nil && tileErr.Index >= lastGood {
					what := "entries from here on differ"
					if tileErrLevel <= 0 {
						what = "entry differs"
					}
					return verr(tileErr.Index, spanPath(spans, tileErr.Index), "%s from the published tile %s, and entries %d..%d do not hash to the root of %s (size %d)", what, tileErr.Path, lastGood, fr.n-1, sorted[next].name, fr.n)
				}
				return verr(lastGood, sorted[next].name, "entries %d..%d do not hash to the checkpoint's root (size %d)", lastGood, fr.n-1, fr.n)
			}
			if tileErr != nil {
				return tileErr // the entries are right, the tile is not
			}
			lastGood = fr.n
			spans = spans[:0]
			next++
		}
		return nil
	}
	checkTiles := func() error {
		for _, td := range full {
			diff, err := checkTile(ctx, src, td, rep.LatestSize)
			if err != nil {
				return err
			}
			if diff != nil {
				if tileErr == nil {
					tileErr, tileErrLevel = diff, td.tile.L
				}
				continue
			}
			rep.TilesChecked++
		}
		full = full[:0]
		return nil
	}
	if err := checkRoots(); err != nil {
		return err
	}
	err := src.forEachEntry(ctx, func(n int64, entry []byte, path string) error {
		if len(spans) == 0 || spans[len(spans)-1].path != path {
			spans = append(spans, entrySpan{n, path})
		}
		hs, err := fr.add(entry)
		if err != nil {
			return err
		}
		full = tl.add(n, clone(entry), hs, full)
		if checkPartial && fr.n == rep.LatestSize {
			full = append(full, tl.partial()...)
		}
		if len(full) > 0 {
			if err := checkTiles(); err != nil {
				return err
			}
		}
		return checkRoots()
	})
	if err != nil {
		if tileErr != nil {
			return firstError(err, tileErr)
		}
		return err
	}
	if tileErr != nil {
		return tileErr
	}
	if next < len(sorted) {
		c := sorted[len(sorted)-1]
		return verr(fr.n, c.name, "log ends at %d entries but the checkpoint covers %d (truncated or dropped entries)", fr.n, c.c.Tree.N)
	}
	rep.Size = fr.n
	rep.Root, err = fr.root()
	return err
}

// An entrySpan says that the entries from first on come from path.
type entrySpan struct {
	first int64
	path  string
}

func spanPath(spans []entrySpan, n int64) string {
	p := ""
	for _, s := range spans {
		if s.first <= n {
			p = s.path
		}
	}
	return p
}

// checkTile compares a recomputed tile with the published one and returns
// the difference, if any. A full tile may be missing only if it reaches
// beyond the latest checkpoint.
func checkTile(ctx context.Context, src treeSource, td tileData, latest int64) (diff *VerifyError, err error) {
	p := tilePath(td.tile)
	b, err := src.readTile(ctx, td.tile)
	if errors.Is(err, fs.ErrNotExist) {
		if td.tile.W < tileWidth || tileEnd(td.tile) <= latest {
			return nil, verr(tileStart(td.tile), p, "tile missing")
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if bytes.Equal(b, td.data) {
		return nil, nil
	}
	// Name the first differing entry (or hash) and the first leaf under it.
	step := tlog.HashSize
	if td.tile.L < 0 {
		step = 2 + entrySize
	}
	i := 0
	for i < len(td.data)/step && i*step+step <= len(b) && bytes.Equal(b[i*step:i*step+step], td.data[i*step:i*step+step]) {
		i++
	}
	first := (td.tile.N*tileWidth + int64(i)) << (uint(tileHeight) * uint(max(td.tile.L, 0)))
	return verr(first, p, "published tile differs from the one recomputed from the entries at position %d", i), nil
}

func tileStart(t tlog.Tile) int64 {
	return t.N << (uint(tileHeight) * uint(max(t.L, 0)+1))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// forEachRecord calls fn for every leaf record in index order. Segments
// must be contiguous; a partial record at the end is reported; an all-zero
// record (preallocated space) ends a segment.
func forEachRecord(ctx context.Context, dir string, fn func(n int64, rec []byte, path string) error) error {
	segs, err := listSegments(filepath.Join(dir, "log"))
	if err != nil {
		return verr(-1, "log", "%v", err)
	}
	var n int64
	buf := make([]byte, logRecordSize*4096)
	for _, s := range segs {
		name := "log/" + segmentName(s.first)
		if s.first != n {
			return verr(n, name, "segment starts at %d, expected %d (missing or extra records)", s.first, n)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(s.path)
		if err != nil {
			return err
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for {
			k, rerr := io.ReadFull(r, buf)
			for off := 0; off+logRecordSize <= k; off += logRecordSize {
				if isZero(buf[off : off+logRecordSize]) {
					// Preallocated space: the segment ends here.
					rerr = io.EOF
					break
				}
				if err := fn(n, buf[off:off+logRecordSize], name); err != nil {
					f.Close()
					return err
				}
				n++
			}
			if rerr == io.EOF {
				break
			}
			if rerr == io.ErrUnexpectedEOF {
				if k%logRecordSize != 0 {
					f.Close()
					return verr(n, name, "partial record at end of segment (torn write)")
				}
				break
			}
			if rerr != nil {
				f.Close()
				return rerr
			}
		}
		f.Close()
	}
	return nil
}

// verifyPayloads checks every payload against its leaf commitment.
func verifyPayloads(ctx context.Context, dir string, s Sealer, rep *VerifyReport) error {
	it, err := newPayloadIter(dir)
	if err != nil {
		return verr(-1, "payloads", "%v", err)
	}
	defer it.close()
	erased := make(map[string]bool)
	var checked, nErased int64
	err = forEachRecord(ctx, dir, func(n int64, rec []byte, _ string) error {
		p, err := it.next(n)
		if err != nil {
			return err
		}
		if p.index != n {
			return verr(n, it.name, "payload record is for index %d", p.index)
		}
		entry := rec[:entrySize]
		pt, err := s.Open(p.subject, p.sealed, payloadAD(entry))
		if errors.Is(err, ErrErased) {
			nErased++
			erased[p.subject] = true
			return nil
		}
		if err != nil {
			return verr(n, it.name, "payload does not open: %v", err)
		}
		if sum := sha256.Sum256(pt); !bytes.Equal(sum[:], entry) {
			return verr(n, it.name, "payload does not match the leaf commitment")
		}
		checked++
		return nil
	})
	if err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) && strings.HasPrefix(ve.Path, "log") {
			return nil // the tree pass reports problems with the records
		}
		return err
	}
	// Payload records after the last leaf are not an error: a live writer
	// writes payloads first, and Open cuts a crash tail.
	rep.TrailingPayloads = it.more()
	rep.PayloadsChecked, rep.Erased = checked, nErased
	for id := range erased {
		rep.ErasedSubjects = append(rep.ErasedSubjects, id)
	}
	slices.Sort(rep.ErasedSubjects)
	return nil
}

// dirTiles is a tlog.TileReader over the published tiles in a directory.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return tileHeight }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := readTileFile(d.dir, t)
		if errors.Is(err, fs.ErrNotExist) && t.W < tileWidth {
			// A partial tile may have been replaced by the full one.
			full := t
			full.W = tileWidth
			b, err = readTileFile(d.dir, full)
			if err == nil {
				b = b[:min(len(b), t.W*tlog.HashSize)]
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// latestTree returns the verified latest checkpoint of the ledger in dir.
func latestTree(dir, vkey string) (tlog.Tree, []byte, error) {
	if vkey == "" {
		var err error
		if vkey, err = ReadPublicKey(dir); err != nil {
			return tlog.Tree{}, nil, err
		}
	}
	msg, err := fsutil.ReadFile(filepath.Join(dir, "checkpoint"), maxCheckpointSize)
	if err != nil {
		return tlog.Tree{}, nil, fmt.Errorf("audit: %w", err)
	}
	c, err := OpenCheckpoint(msg, vkey)
	if err != nil {
		return tlog.Tree{}, nil, fmt.Errorf("%w: checkpoint: %v", ErrIntegrity, err)
	}
	return c.Tree, msg, nil
}

// InclusionProof proves that Entry is leaf Index of the tree in Checkpoint.
// Check it with tlog.CheckRecord(Proof, Tree.N, Tree.Hash, Index,
// tlog.RecordHash(Entry)).
type InclusionProof struct {
	Index      int64
	Entry      []byte // the leaf's entry (the commitment)
	Tree       tlog.Tree
	Checkpoint []byte // the signed note Tree comes from
	Proof      tlog.RecordProof
}

// Prove returns an inclusion proof for entry n against the latest
// checkpoint of the ledger in dir (checked with vkey, or key.pub if empty).
func Prove(ctx context.Context, dir, vkey string, n int64) (*InclusionProof, error) {
	tree, msg, err := latestTree(dir, vkey)
	if err != nil {
		return nil, err
	}
	if n < 0 || n >= tree.N {
		return nil, fmt.Errorf("audit: entry %d is not in the latest checkpoint (size %d)", n, tree.N)
	}
	tr := dirTiles{dir}
	hr := tlog.TileHashReader(tree, tr)
	proof, err := tlog.ProveRecord(tree.N, n, hr)
	if err != nil {
		return nil, fmt.Errorf("audit: prove %d: %w", n, err)
	}
	// The entry comes from its entry bundle; check it against the verified
	// leaf hash before handing it out.
	et := tlog.TileForIndex(tileHeight, tlog.StoredHashIndex(0, n))
	et.L = -1
	et.W = int(min(tree.N-et.N*tileWidth, tileWidth))
	b, err := tr.ReadTiles([]tlog.Tile{et})
	if err != nil {
		return nil, fmt.Errorf("audit: prove %d: %w", n, err)
	}
	off := int(n%tileWidth) * (2 + entrySize)
	if len(b[0]) < off+2+entrySize {
		return nil, fmt.Errorf("%w: entry bundle %s too short", ErrIntegrity, tilePath(et))
	}
	entry := clone(b[0][off+2 : off+2+entrySize])
	lh, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, n)})
	if err != nil {
		return nil, fmt.Errorf("audit: prove %d: %w", n, err)
	}
	if tlog.RecordHash(entry) != lh[0] {
		return nil, fmt.Errorf("%w: entry bundle %s does not match the tree at %d", ErrIntegrity, tilePath(et), n)
	}
	return &InclusionProof{Index: n, Entry: entry, Tree: tree, Checkpoint: msg, Proof: proof}, nil
}

// ConsistencyProof proves that the tree Old is a prefix of the tree New.
// Check it with tlog.CheckTree(Proof, New.N, New.Hash, Old.N, Old.Hash).
type ConsistencyProof struct {
	Old, New tlog.Tree
	Proof    tlog.TreeProof
}

// Consistency returns a proof that the tree of size old is a prefix of the
// tree of size new, both at most the latest checkpoint's size; their hashes
// come from tiles verified against that checkpoint.
func Consistency(ctx context.Context, dir, vkey string, old, new int64) (*ConsistencyProof, error) {
	tree, _, err := latestTree(dir, vkey)
	if err != nil {
		return nil, err
	}
	if old < 1 || old > new || new > tree.N {
		return nil, fmt.Errorf("audit: consistency %d..%d: sizes must satisfy 1 <= old <= new <= %d", old, new, tree.N)
	}
	hr := tlog.TileHashReader(tree, dirTiles{dir})
	p := &ConsistencyProof{Old: tlog.Tree{N: old}, New: tlog.Tree{N: new}}
	if p.Old.Hash, err = tlog.TreeHash(old, hr); err != nil {
		return nil, fmt.Errorf("audit: consistency: %w", err)
	}
	if p.New.Hash, err = tlog.TreeHash(new, hr); err != nil {
		return nil, fmt.Errorf("audit: consistency: %w", err)
	}
	if p.Proof, err = tlog.ProveTree(new, old, hr); err != nil {
		return nil, fmt.Errorf("audit: consistency: %w", err)
	}
	return p, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
