package vault

// Reading. OpenObject fetches a version's metadata and opens its sealed
// records; Range finds the segments that overlap the requested bytes and
// chains their decrypted ranges, opening each blob only when the read
// reaches it and decrypting only the 64 KiB packages that cover the range.
// seal authenticates every package before releasing its bytes, and the
// reader also checks each blob's length and each segment's byte count, so
// tampering surfaces as ErrIntegrity and never as wrong bytes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// OpenObject returns a handle on the current version.
func (s *Service) OpenObject(ctx context.Context, bucket, key string) (*Reader, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("open %s/%s", bucket, key)
	o, err := s.meta.GetObject(ctx, bucket, key)
	if err != nil {
		return nil, s.missing(ctx, op, bucket, err)
	}
	m, err := s.openMeta(o.Meta, bucket, key, o.VersionID)
	if err != nil {
		s.logIntegrity(bucket, key, "", err)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	// Tags only give the count here. Sealed tags that fail to open (a crash
	// inside PutTags racing a PUT can leave tags sealed for the previous
	// version) are logged and counted as none rather than making the data
	// unreadable; GetTags and CopyObject still report them as ErrIntegrity.
	tagCount := 0
	if tags, err := s.openTags(o.Tags, bucket, key, o.VersionID); err != nil {
		s.logIntegrity(bucket, key, "", err)
	} else {
		tagCount = len(tags)
	}
	r, err := s.newReader(o, m, tagCount)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// newReader is a handle on version o with opened metadata m.
func (s *Service) newReader(o meta.Object, m objectMeta, tagCount int) (*Reader, error) {
	bucket, key := o.Bucket, o.Key
	segs := append([]meta.Segment(nil), o.Segments...)
	sort.Slice(segs, func(i, j int) bool { return segs[i].Number < segs[j].Number })
	starts := make([]int64, len(segs)+1)
	for i, sg := range segs {
		starts[i+1] = starts[i] + sg.Size
	}
	if starts[len(segs)] != o.Size {
		err := fmt.Errorf("%w: segments hold %d bytes, object %d", ErrIntegrity, starts[len(segs)], o.Size)
		s.logIntegrity(bucket, key, "", err)
		return nil, err
	}
	o.Segments = segs
	return &Reader{
		s:      s,
		obj:    o,
		meta:   m,
		info:   objectInfo(o, m, tagCount),
		starts: starts,
		open:   map[*rangeReader]struct{}{},
	}, nil
}

// logIntegrity records an integrity failure. It names the object and blob,
// never key material.
func (s *Service) logIntegrity(bucket, key, blobID string, err error) {
	s.log.Error("vault: integrity check failed", "bucket", bucket, "key", key, "blob", blobID, "err", err)
}

// Reader is an open object version.
type Reader struct {
	s      *Service
	obj    meta.Object // Segments sorted by Number
	meta   objectMeta
	info   ObjectInfo
	starts []int64 // starts[i] is the plaintext offset of segment i; starts[len] = Size

	mu     sync.Mutex
	closed bool
	open   map[*rangeReader]struct{}
}

// Info describes the version.
func (r *Reader) Info() ObjectInfo { return r.info }

// Range returns plaintext bytes [off, off+length), decrypting only the
// packages that cover them. The caller has validated the range.
func (r *Reader) Range(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 || off > r.obj.Size || length > r.obj.Size-off {
		return nil, fmt.Errorf("%w: range %d+%d outside %d bytes", ErrInvalidArgument, off, length, r.obj.Size)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("vault: range on a closed reader")
	}
	rr := &rangeReader{r: r, ctx: ctx, off: off, end: off + length}
	// First segment that ends after off.
	rr.seg = sort.Search(len(r.obj.Segments), func(i int) bool { return r.starts[i+1] > off })
	r.open[rr] = struct{}{}
	return rr, nil
}

// Close releases the handle and every blob its ranges still hold open.
func (r *Reader) Close() error {
	r.mu.Lock()
	open := r.open
	r.open = nil
	r.closed = true
	r.mu.Unlock()
	var errs []error
	for rr := range open {
		errs = append(errs, rr.closeBlob())
	}
	return errors.Join(errs...)
}

// rangeReader reads plaintext [off, end) across segments.
type rangeReader struct {
	r   *Reader
	ctx context.Context
	off int64 // next plaintext offset to return
	end int64
	seg int // index of the segment holding off

	mu   sync.Mutex // guards blob against Reader.Close
	blob blob.Reader
	cur  io.Reader // plaintext of the current segment's part of the range
	left int64     // bytes cur still owes
	err  error     // sticky
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	for {
		if rr.cur == nil {
			if rr.off >= rr.end {
				return 0, io.EOF
			}
			if err := rr.openSegment(); err != nil {
				rr.err = err
				return 0, err
			}
		}
		q := p
		if int64(len(q)) > rr.left {
			q = q[:rr.left]
		}
		n, err := rr.cur.Read(q)
		rr.left -= int64(n)
		rr.off += int64(n)
		if err != nil && err != io.EOF {
			rr.err = rr.fail(err)
			return n, rr.err
		}
		if rr.left == 0 {
			// Let seal finish the segment: at the end of a stream it checks
			// the final flag and that nothing follows it.
			if err != io.EOF {
				err = drain(rr.cur)
			}
			if err != nil && err != io.EOF {
				rr.err = rr.fail(err)
				return n, rr.err
			}
			rr.cur = nil
			rr.seg++
			if cerr := rr.closeBlob(); cerr != nil {
				rr.err = cerr
				return n, cerr
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err == io.EOF {
			rr.err = rr.fail(fmt.Errorf("%w: segment ended %d bytes early", ErrIntegrity, rr.left))
			return n, rr.err
		}
		if n > 0 {
			return n, nil
		}
		if len(q) == 0 {
			return 0, nil
		}
	}
}

// drain reads a finished segment reader to its end, which must come at
// once: io.EOF, or an error seal found while checking the stream's end.
func drain(r io.Reader) error {
	var b [1]byte
	for range 3 {
		n, err := r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: plaintext past the segment's end", ErrIntegrity)
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// openSegment opens the blob of segment rr.seg and positions cur at rr.off.
func (rr *rangeReader) openSegment() error {
	r, s := rr.r, rr.r.s
	if err := rr.ctx.Err(); err != nil {
		return err
	}
	for r.starts[rr.seg+1] <= rr.off { // skip empty segments
		rr.seg++
	}
	sg := r.obj.Segments[rr.seg]
	segOff := rr.off - r.starts[rr.seg]
	n := min(sg.Size-segOff, rr.end-rr.off)

	br, err := s.blobs.Open(rr.ctx, sg.BlobID)
	if errors.Is(err, blob.ErrNotFound) {
		return rr.vanished(sg)
	}
	if err != nil {
		return fmt.Errorf("read %s/%s: open blob %s: %w", r.obj.Bucket, r.obj.Key, sg.BlobID, err)
	}
	rr.mu.Lock()
	rr.blob = br
	rr.mu.Unlock()
	if want := seal.CiphertextSize(sg.Size); br.Size() != want {
		return rr.fail(fmt.Errorf("%w: blob is %d bytes, want %d", ErrIntegrity, br.Size(), want))
	}
	dek, err := s.keys.UnwrapDEK(sg.WrappedDEK, []byte(sg.BlobID))
	if err != nil {
		return rr.fail(err)
	}
	defer clear(dek[:])
	part := 0
	if isMultipart(r.obj) {
		part = sg.Number
	}
	b := seal.Binding{Bucket: r.obj.Bucket, Key: r.obj.Key, VersionID: sg.Binding, Part: part}
	dr, err := seal.DecryptRange(br, sg.Size, dek, b, segOff, n)
	if err != nil {
		return rr.fail(err)
	}
	rr.cur, rr.left = dr, n
	return nil
}

// vanished explains a missing blob: the version was replaced or deleted
// while this handle was open (ErrNoSuchKey), or the data is lost (ErrIntegrity).
func (rr *rangeReader) vanished(sg meta.Segment) error {
	o := rr.r.obj
	cur, err := rr.r.s.meta.GetObject(context.WithoutCancel(rr.ctx), o.Bucket, o.Key)
	if errors.Is(err, meta.ErrNoSuchObject) || err == nil && cur.VersionID != o.VersionID {
		return fmt.Errorf("read %s/%s: %w: replaced or deleted during the read", o.Bucket, o.Key, ErrNoSuchKey)
	}
	return rr.fail(fmt.Errorf("%w: blob missing: %w", ErrIntegrity, blob.ErrNotFound))
}

// fail logs an integrity failure of the current segment and wraps err with
// the object's name; other errors are only wrapped.
func (rr *rangeReader) fail(err error) error {
	o := rr.r.obj
	blobID := o.Segments[rr.seg].BlobID
	if errors.Is(err, ErrIntegrity) {
		rr.r.s.logIntegrity(o.Bucket, o.Key, blobID, err)
	}
	return fmt.Errorf("read %s/%s blob %s: %w", o.Bucket, o.Key, blobID, err)
}

// closeBlob closes the current blob, if any.
func (rr *rangeReader) closeBlob() error {
	rr.mu.Lock()
	b := rr.blob
	rr.blob = nil
	rr.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

// Close releases the blob this range holds open.
func (rr *rangeReader) Close() error {
	rr.r.mu.Lock()
	if rr.r.open != nil {
		delete(rr.r.open, rr)
	}
	rr.r.mu.Unlock()
	if rr.err == nil {
		rr.err = errors.New("vault: read after close")
	}
	return rr.closeBlob()
}
