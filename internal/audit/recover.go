package audit

// Crash recovery. Every Append that returned nil had its leaf record and
// its payload record fsynced, so after a crash the durable, acknowledged
// entries are a prefix of each file sequence. Recovery finds the longest
// valid prefix of each (records whose CRC matches their position), takes
// the shorter of the two, and cuts both back to it: what is cut was never
// acknowledged. It refuses (ErrCorrupt) to cut below the latest signed
// checkpoint, because those entries were published.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
)

// payloadScan is the result of scanning the payload segments.
type payloadScan struct {
	n    int64           // valid records
	offs map[int64]int64 // per segment first: byte offset of its valid end
}

func scanPayloads(segs []segment) (payloadScan, error) {
	ps := payloadScan{offs: make(map[int64]int64)}
	for _, s := range segs {
		if s.first != ps.n {
			break // a gap: everything from here on is after the valid prefix
		}
		f, err := os.Open(s.path)
		if err != nil {
			return ps, err
		}
		pr := &payloadReader{r: bufio.NewReaderSize(f, 1<<20)}
		for {
			rec, _, err := pr.next()
			if err == io.EOF || errors.Is(err, errTorn) {
				break
			}
			if err != nil {
				f.Close()
				return ps, err
			}
			if rec.index != ps.n {
				break
			}
			ps.n++
		}
		f.Close()
		ps.offs[s.first] = pr.off
		if pr.off != fileSize(s.path) {
			break // torn inside this segment: later segments are not valid
		}
	}
	return ps, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// payloadOffset returns the byte offset of record n in segment s.
func payloadOffset(s segment, n int64) (int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pr := &payloadReader{r: bufio.NewReaderSize(f, 1<<20)}
	for i := s.first; i < n; i++ {
		if _, _, err := pr.next(); err != nil {
			return 0, err
		}
	}
	return pr.off, nil
}

func (l *Log) recover(ctx context.Context) error {
	var ck Checkpoint
	hist, err := readCheckpointHistory(l.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(hist) > 0 {
		last := hist[len(hist)-1]
		ck, err = OpenCheckpoint(last.data, l.vkey)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, last.name, err)
		}
		l.ckptSeq, l.ckptN, l.lastCkpt, l.lastSeq = last.seq, ck.Tree.N, last.data, last.seq
	}
	logSegs, err := listSegments(filepath.Join(l.dir, "log"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	paySegs, err := listSegments(filepath.Join(l.dir, "payloads"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	ps, err := scanPayloads(paySegs)
	if err != nil {
		return fmt.Errorf("audit: recover payloads: %w", err)
	}

	// One pass over the leaf records: find the valid prefix (at most the
	// payloads' prefix) and replay it into the tree.
	var n int64
	var full []tileData
	checkRoot := func() error {
		if len(hist) == 0 || l.fr.n != ck.Tree.N {
			return nil
		}
		root, err := l.fr.root()
		if err != nil {
			return err
		}
		if root != ck.Tree.Hash {
			return fmt.Errorf("%w: entries do not match the latest checkpoint (size %d)", ErrCorrupt, ck.Tree.N)
		}
		return nil
	}
	if err := checkRoot(); err != nil {
		return err
	}
	buf := make([]byte, logRecordSize*4096)
scan:
	for _, s := range logSegs {
		if s.first != n || n >= ps.n {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("audit: recover: %w", err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for n < ps.n {
			k, err := io.ReadFull(r, buf)
			k -= k % logRecordSize
			for off := 0; off < k && n < ps.n; off += logRecordSize {
				rec := buf[off : off+logRecordSize]
				if !checkLogRecord(rec, n) {
					f.Close()
					break scan
				}
				e := clone(rec[:entrySize])
				hs, herr := l.fr.add(e)
				if herr != nil {
					f.Close()
					return herr
				}
				full = l.tl.add(n, e, hs, full)
				n++
				if cerr := checkRoot(); cerr != nil {
					f.Close()
					return cerr
				}
			}
			if err != nil { // EOF, short read: end of this segment
				break
			}
			if len(full) > 64 {
				if err := l.writeTilesAfter(full, ck.Tree.N); err != nil {
					f.Close()
					return err
				}
				full = full[:0]
			}
		}
		f.Close()
		if fileSize(s.path) != (n-s.first)*logRecordSize {
			break // torn inside this segment
		}
	}
	if n < ck.Tree.N {
		return fmt.Errorf("%w: %d valid entries, but a checkpoint covers %d", ErrCorrupt, n, ck.Tree.N)
	}
	if n != ps.n || n != l.fr.n {
		l.opts.Logger.Warn("audit ledger: truncating unacknowledged tail", "valid", n, "payloads", ps.n)
	}
	if err := l.cut(logSegs, paySegs, n); err != nil {
		return fmt.Errorf("audit: recover: %w", err)
	}
	l.size, l.durable = n, n
	if err := l.writeTilesAfter(full, ck.Tree.N); err != nil {
		return err
	}
	if n > ck.Tree.N || len(hist) == 0 {
		if err := l.publish(nil); err != nil {
			return fmt.Errorf("audit: recover: %w", err)
		}
	} else {
		// A crash between the two checkpoint writes (or between storing a
		// cosignature and republishing) leaves the published one behind.
		want := publishedCheckpoint(l.dir, l.ckptSeq, l.lastCkpt)
		if b, _ := os.ReadFile(filepath.Join(l.dir, "checkpoint")); !bytes.Equal(b, want) {
			if err := fsutil.WriteFile(filepath.Join(l.dir, "checkpoint"), want, 0o644, false); err != nil {
				return fmt.Errorf("audit: recover: %w", err)
			}
		}
		for _, td := range l.tl.partial() {
			if err := writeTile(l.dir, td); err != nil {
				return fmt.Errorf("audit: recover: %w", err)
			}
		}
	}
	return nil
}

// writeTilesAfter writes the tiles that reach beyond n, and any other tile
// whose file is missing or has the wrong size (tiles are written without
// fsync, so a power loss can lose them).
func (l *Log) writeTilesAfter(full []tileData, n int64) error {
	for _, td := range full {
		path := filepath.Join(l.dir, filepath.FromSlash(tilePath(td.tile)))
		if tileEnd(td.tile) > n || fileSize(path) != int64(len(td.data)) {
			if err := writeTile(l.dir, td); err != nil {
				return fmt.Errorf("audit: recover: %w", err)
			}
		}
	}
	return nil
}

// cut truncates both segment sequences to n records and opens the
// segment pair to append to.
func (l *Log) cut(logSegs, paySegs []segment, n int64) error {
	var cur *segment
	for i, s := range logSegs {
		if s.first < n {
			cur = &logSegs[i]
		} else if err := os.Remove(s.path); err != nil {
			return err
		}
	}
	if cur != nil {
		if err := os.Truncate(cur.path, (n-cur.first)*logRecordSize); err != nil {
			return err
		}
	}
	var payOff int64
	for _, s := range paySegs {
		switch {
		case s.first >= n:
			if err := os.Remove(s.path); err != nil {
				return err
			}
		case cur != nil && s.first == cur.first:
			off, err := payloadOffset(s, n)
			if err != nil {
				return err
			}
			if err := os.Truncate(s.path, off); err != nil {
				return err
			}
			payOff = off
		}
	}
	if cur == nil || n-cur.first >= l.opts.SegmentEntries {
		return l.openSegments(n, 0, 0)
	}
	if fileSize(filepath.Join(l.dir, "payloads", segmentName(cur.first))) != payOff {
		return fmt.Errorf("%w: payload segment %s missing", ErrCorrupt, segmentName(cur.first))
	}
	return l.openSegments(cur.first, (n-cur.first)*logRecordSize, payOff)
}
