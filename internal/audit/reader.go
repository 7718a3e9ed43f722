package audit

// Reading entries back in order. A Reader walks the leaf and payload
// segments from a given index with positioned reads (pread), so it can run
// beside a live Log on the same directory: the log only ever appends, and
// every byte of an entry below Log.Size is written and fsynced before the
// size counts it. A Reader must therefore be given that bound (ReadBatch's
// end) and never reads past it; bytes beyond it may be preallocated zeros
// or a batch still being written, and are never kept between calls.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"
)

// Entry is one ledger entry read back from the ledger files.
type Entry struct {
	// Index is the entry's position in the ledger.
	Index int64
	// Commitment is the tlog-tiles entry, SHA-256(salt || canonical event).
	Commitment [32]byte
	// Salt and Event (the canonical encoding) are the opened payload;
	// both are nil when Erased.
	Salt  []byte
	Event []byte
	// Erased reports that the subject's payload key has been destroyed.
	Erased bool
}

// LeafHash returns the entry's RFC 6962 leaf hash, the hash the tree, its
// tiles and inclusion proofs use: SHA-256(0x00 || Commitment).
func (e *Entry) LeafHash() tlog.Hash { return tlog.RecordHash(e.Commitment[:]) }

// Reader reads ledger entries in index order, starting at a given index.
// It is not safe for concurrent use; Close it when done.
type Reader struct {
	dir    string
	sealer Sealer
	next   int64

	segFirst  int64 // first index of the open segment pair
	nextFirst int64 // first index of the following segment, or -1 if none seen
	logF      *os.File
	payF      *os.File
	payOff    int64 // offset of the payload record for index next
	logBuf    []byte
	payBuf    []byte // payload bytes from payBufOff, valid during one ReadBatch
	payBufOff int64
}

// NewReader returns a Reader whose first entry is from. The ledger in dir
// must hold at least from entries (durably, if a Log has it open).
func NewReader(dir string, s Sealer, from int64) (*Reader, error) {
	if from < 0 {
		return nil, fmt.Errorf("audit: reader: negative index %d", from)
	}
	r := &Reader{dir: dir, sealer: s, next: from, nextFirst: -1}
	if err := r.seek(from); err != nil {
		r.Close()
		return nil, fmt.Errorf("audit: reader at %d: %w", from, err)
	}
	return r, nil
}

// Next returns the index of the next entry ReadBatch will return.
func (r *Reader) Next() int64 { return r.next }

// Close closes the Reader's files.
func (r *Reader) Close() error {
	var errs []error
	if r.logF != nil {
		errs = append(errs, r.logF.Close())
		r.logF = nil
	}
	if r.payF != nil {
		errs = append(errs, r.payF.Close())
		r.payF = nil
	}
	return errors.Join(errs...)
}

// seek opens the segment pair holding index n and positions the Reader at
// n. With n equal to the ledger's size it positions after the last entry.
func (r *Reader) seek(n int64) error {
	r.Close()
	r.payBuf, r.payBufOff = r.payBuf[:0], 0
	segs, err := listSegments(filepath.Join(r.dir, "log"))
	if err != nil {
		return err
	}
	si := -1
	for i, s := range segs {
		if s.first <= n {
			si = i
		}
	}
	if si < 0 {
		if n == 0 {
			// An empty ledger: nothing to open yet.
			r.segFirst, r.nextFirst, r.next = 0, -1, 0
			return nil
		}
		return fmt.Errorf("%w: no segment holds entry %d", ErrCorrupt, n)
	}
	s := segs[si]
	r.segFirst, r.nextFirst = s.first, -1
	if si+1 < len(segs) {
		r.nextFirst = segs[si+1].first
	}
	if r.logF, err = os.Open(s.path); err != nil {
		return err
	}
	ps := segment{s.first, filepath.Join(r.dir, "payloads", segmentName(s.first))}
	if r.payF, err = os.Open(ps.path); err != nil {
		return err
	}
	if r.payOff, err = payloadOffset(ps, n); err != nil {
		return fmt.Errorf("payload offset of %d: %w", n, err)
	}
	r.next = n
	return nil
}

// ReadBatch returns up to max entries from Next onwards, all below end
// (the number of durable entries, e.g. Log.Size), and advances past them.
// It returns no entries and no error when Next is already end.
//
// An entry whose payload key is destroyed is returned with Erased set.
// A payload that opens but does not hash to its commitment, a record
// whose checksum or index is wrong, or a durable entry that is not there
// is an error wrapping ErrIntegrity or ErrCorrupt; the Reader does not
// advance past it.
func (r *Reader) ReadBatch(ctx context.Context, end int64, max int) ([]Entry, error) {
	if max <= 0 {
		max = 1
	}
	r.payBuf, r.payBufOff = r.payBuf[:0], 0 // nothing read before this call is trusted
	var out []Entry
	for len(out) < max && r.next < end {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if r.logF == nil || (r.nextFirst >= 0 && r.next >= r.nextFirst) {
			if err := r.seek(r.next); err != nil {
				return out, fmt.Errorf("audit: read entry %d: %w", r.next, err)
			}
			if r.logF == nil {
				return out, fmt.Errorf("audit: read entry %d: %w: no segments", r.next, ErrCorrupt)
			}
		}
		// Entries of this segment that are durable and wanted.
		k := min(int64(max-len(out)), end-r.next)
		if r.nextFirst >= 0 {
			k = min(k, r.nextFirst-r.next)
		}
		got, leafErr := r.readLeaves(r.next, k)
		if got == 0 && leafErr != nil {
			return out, leafErr
		}
		if got == 0 {
			// The durable entry is not in this segment: a segment rolled
			// after we listed them. Look again once.
			old := r.segFirst
			if err := r.seek(r.next); err != nil {
				return out, fmt.Errorf("audit: read entry %d: %w", r.next, err)
			}
			if r.segFirst == old {
				return out, fmt.Errorf("audit: read entry %d: %w: leaf record missing", r.next, ErrCorrupt)
			}
			continue
		}
		for i := int64(0); i < got; i++ {
			rec := r.logBuf[i*logRecordSize : (i+1)*logRecordSize]
			e, err := r.readPayload(r.next, rec[:entrySize])
			if err != nil {
				return out, err
			}
			out = append(out, e)
			r.next++
		}
		if leafErr != nil {
			return out, leafErr
		}
	}
	return out, nil
}

// readLeaves reads up to k leaf records from index n of the open segment
// into r.logBuf and returns how many are there (a zero or short record
// ends the segment) and, after them, a record that is corrupt.
func (r *Reader) readLeaves(n, k int64) (int64, error) {
	size := int(k) * logRecordSize
	if cap(r.logBuf) < size {
		r.logBuf = make([]byte, size)
	}
	r.logBuf = r.logBuf[:size]
	m, err := r.logF.ReadAt(r.logBuf, (n-r.segFirst)*logRecordSize)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("audit: read entry %d: %w", n, err)
	}
	var got int64
	for off := 0; off+logRecordSize <= m; off += logRecordSize {
		rec := r.logBuf[off : off+logRecordSize]
		if isZero(rec) {
			break
		}
		if !checkLogRecord(rec, n+got) {
			return got, &VerifyError{Index: n + got, Path: "log/" + segmentName(r.segFirst), Reason: "record checksum mismatch"}
		}
		got++
	}
	return got, nil
}

// readPayload reads the payload record of entry n at r.payOff, opens it
// and checks it against the commitment.
func (r *Reader) readPayload(n int64, entry []byte) (Entry, error) {
	path := "payloads/" + segmentName(r.segFirst)
	h, err := r.payBytes(r.payOff, payloadHeader)
	if err != nil {
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: fmt.Sprintf("payload record unreadable: %v", err)}
	}
	size := binary.BigEndian.Uint32(h[:4])
	sum := binary.BigEndian.Uint32(h[4:])
	if size < payloadFixed || size > maxPayloadRecord {
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: "payload record missing or corrupt"}
	}
	b, err := r.payBytes(r.payOff+payloadHeader, int(size))
	if err != nil {
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: fmt.Sprintf("payload record unreadable: %v", err)}
	}
	if crc32.Checksum(b, castagnoli) != sum {
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: "payload record checksum mismatch"}
	}
	if got := int64(binary.BigEndian.Uint64(b)); got != n {
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: fmt.Sprintf("payload record is for index %d", got)}
	}
	subject := fmt.Sprintf("%x", b[8:40])
	e := Entry{Index: n}
	copy(e.Commitment[:], entry)
	pt, err := r.sealer.Open(subject, b[40:], payloadAD(entry))
	switch {
	case errors.Is(err, ErrErased):
		e.Erased = true
	case err != nil:
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: fmt.Sprintf("payload does not open: %v", err)}
	case len(pt) < 32 || sha256.Sum256(pt) != e.Commitment:
		return Entry{}, &VerifyError{Index: n, Path: path, Reason: "payload does not match the leaf commitment"}
	default:
		e.Salt, e.Event = pt[:32:32], pt[32:]
	}
	r.payOff += payloadHeader + int64(size)
	return e, nil
}

// payBytes returns n bytes of the payload segment at off, reading ahead in
// chunks; the returned slice is valid until the next call.
func (r *Reader) payBytes(off int64, n int) ([]byte, error) {
	if off >= r.payBufOff && off+int64(n) <= r.payBufOff+int64(len(r.payBuf)) {
		i := off - r.payBufOff
		return r.payBuf[i : i+int64(n)], nil
	}
	want := max(n, 256<<10)
	if cap(r.payBuf) < want {
		r.payBuf = make([]byte, want)
	}
	r.payBuf = r.payBuf[:want]
	m, err := r.payF.ReadAt(r.payBuf, off)
	r.payBuf, r.payBufOff = r.payBuf[:m], off
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return r.payBuf[:n], nil
}
