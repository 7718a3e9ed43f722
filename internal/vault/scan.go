package vault

// Content scanning. Every upload is read once; when scanning is on, the
// same plaintext chunks that go to the sealer and the MD5 also go to the
// detection engine of package scan, on a stage of their own (see copyBody),
// so an upload waits for the scan only of what it has already read. The
// engine sees the stream in chunks of ScanConfig.ChunkSize that overlap by
// ScanOverlap bytes, and each finding is counted by the one chunk that owns
// it (scan.Owns), as scan's own sources do.
//
// What a version is labelled with is recorded with the version in the same
// metadata transaction, so a labelled object is never visible without its
// labels. Objects over ScanConfig.InlineMax (in a bucket without a
// scan.reject rule) are stored first and scanned afterwards by the
// background queue (scanqueue.go); until then they are unscanned.
//
// A bucket's scan.reject rule gates uploads: a finding of a listed class or
// type at or above the rule's confidence fails the write before the blob is
// committed, so nothing is stored. Uploads to a gated bucket are always
// scanned inline, whatever their size, since a gate cannot act afterwards.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/scan"
)

// ErrContentRejected is what a *RejectedError unwraps to.
var ErrContentRejected = errors.New("vault: content rejected") // ContentRejected

// ChunkScanner is what the vault needs from the detection engine
// (*scan.Engine).
type ChunkScanner interface {
	ScanChunk(chunk []byte, base int64, loc scan.Location) []scan.Finding
}

// LabelsFunc is told the labels of every version scanned, inline or in the
// background (an audit hook). It must not block for long.
type LabelsFunc func(ctx context.Context, bucket, key, versionID string, labels []meta.Label)

// ScanConfig turns on content scanning. The zero value of every field but
// Engine is its default.
type ScanConfig struct {
	// Engine finds secrets and personal data; nil turns scanning off.
	Engine ChunkScanner
	// InlineMax is the largest object scanned while it is uploaded
	// (default 64 MiB). Larger objects in buckets without a scan.reject
	// rule are scanned by the background queue after the write; objects of
	// unknown size (chunked uploads) are always scanned inline.
	InlineMax int64
	// ChunkSize is how much of a stream the engine sees at once (default
	// 1 MiB); each upload holds one buffer of ChunkSize+ScanOverlap.
	ChunkSize int
	// LabelMin is the least confidence a finding needs to become a label
	// (default POSSIBLE).
	LabelMin scan.Confidence
	// QueueSize bounds the background queue (default 256 jobs). When it is
	// full, jobs are not lost: the versions stay unscanned in the metadata
	// store and the queue sweeps the store for them once it has room.
	QueueSize int
	// Workers is the number of background scans at once (default 1).
	Workers int
	// BackgroundRate caps how fast background scans read (bytes/s, all
	// of them together, over any number of objects), so that they do not
	// take the CPU from requests. Default 32 MiB/s; negative: no cap.
	BackgroundRate int64
	// Parallel is how many chunks of one stream are scanned at once
	// (default: half the CPUs, at least 1, at most 4). Each costs one
	// more chunk buffer per upload.
	Parallel int
	// OnLabels, if set, is called after every scan is recorded.
	OnLabels LabelsFunc
}

// Scan defaults.
const (
	DefaultScanInlineMax = 64 << 20
	DefaultScanChunkSize = 1 << 20
	DefaultScanQueueSize = 256
	// ScanOverlap is how much each scan chunk repeats of the one before:
	// twice the engine's longest match, so no match is lost at a border.
	ScanOverlap = 2 * scan.MaxMatchLen
	// DefaultRejectConfidence is the confidence a finding needs to refuse
	// an upload when the bucket's rule does not say.
	DefaultRejectConfidence = scan.Likely
)

func (c ScanConfig) withDefaults() ScanConfig {
	if c.InlineMax <= 0 {
		c.InlineMax = DefaultScanInlineMax
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultScanChunkSize
	}
	if c.LabelMin == 0 {
		c.LabelMin = scan.Possible
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultScanQueueSize
	}
	if c.BackgroundRate == 0 {
		c.BackgroundRate = 32 << 20
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Parallel <= 0 {
		c.Parallel = min(4, max(1, runtime.NumCPU()/2))
	}
	return c
}

// RejectedError says why an upload was refused: the finding type, its
// confidence and where it starts. It never holds the value found.
type RejectedError struct {
	Type       string
	Rule       string
	Confidence scan.Confidence
	Line       int   // 1-based, in the object (in the part, when Part is set)
	Offset     int64 // bytes from the start of the object (or part)
	Part       int   // multipart part number; 0 for a whole object
}

func (e *RejectedError) Error() string {
	where := fmt.Sprintf("line %d, byte offset %d", e.Line, e.Offset)
	if e.Part > 0 {
		where = fmt.Sprintf("part %d, %s", e.Part, where)
	}
	return fmt.Sprintf("upload refused by the bucket's scan.reject rule: found %s (%s, rule %s) at %s",
		e.Type, e.Confidence, e.Rule, where)
}

// Unwrap makes errors.Is(err, ErrContentRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrContentRejected }

// rejectEntry is a class ("secret") or a type ("secret:aws_access_key").
var rejectEntry = regexp.MustCompile(`^[a-z][a-z0-9_]*(:[a-z0-9][a-z0-9_]*)?$`)

// maxRejectEntries bounds a bucket's scan.reject list.
const maxRejectEntries = 100

// ParseReject parses a scan.reject value: a comma-separated list of
// finding classes ("secret", "pii") and types ("secret:aws_access_key").
// Entries are trimmed, lower-cased, de-duplicated and sorted; an empty
// value (or "none") means no gate.
func ParseReject(s string) ([]string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "none" {
		return nil, nil
	}
	seen := map[string]bool{}
	for e := range strings.SplitSeq(s, ",") {
		e = strings.TrimSpace(e)
		if !rejectEntry.MatchString(e) {
			return nil, fmt.Errorf("%w: scan.reject entry %q is not a class (secret, pii) or a type (secret:aws_access_key)", ErrInvalidArgument, e)
		}
		seen[e] = true
	}
	if len(seen) > maxRejectEntries {
		return nil, fmt.Errorf("%w: scan.reject lists more than %d entries", ErrInvalidArgument, maxRejectEntries)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// gate is a bucket's upload gate.
type gate struct {
	reject []string
	min    scan.Confidence
}

// refuses reports whether f fails the gate.
func (g *gate) refuses(f scan.Finding) bool {
	if g == nil || f.Confidence < g.min {
		return false
	}
	for _, r := range g.reject {
		if r == f.Type || !strings.Contains(r, ":") && strings.HasPrefix(f.Type, r+":") {
			return true
		}
	}
	return false
}

// scanning reports whether content scanning is on.
func (s *Service) scanning() bool { return s.scan.Engine != nil }

// bucketGate returns the bucket's upload gate, nil when it has none or
// scanning is off.
func (s *Service) bucketGate(ctx context.Context, bucket string) (*gate, error) {
	if !s.scanning() {
		return nil, nil
	}
	bs, err := s.meta.GetBucketScan(ctx, bucket)
	if err != nil {
		return nil, metaErr("read scan settings of "+bucket, err)
	}
	if len(bs.Reject) == 0 {
		return nil, nil
	}
	g := &gate{reject: bs.Reject, min: scan.Confidence(bs.MinConfidence)}
	if g.min == 0 {
		g.min = DefaultRejectConfidence
	}
	return g, nil
}

// scanInline decides whether an upload of size bytes (-1: unknown) is
// scanned as it is read.
func (s *Service) scanInline(size int64, g *gate) bool {
	return s.scanning() && (g != nil || size < 0 || size <= s.scan.InlineMax)
}

// streamScanner feeds a stream to the engine in overlapping chunks as it is
// written, collects labels and applies a gate. Write and Close are called
// from one goroutine (copyBody gives the scanner a stage of its own). With
// ScanConfig.Parallel above 1, full chunks are scanned by that many
// goroutines at once (chunks are independent once each knows its offset
// and line base), so one upload can use more than one core for its scan.
type streamScanner struct {
	engine   ChunkScanner
	pool     *sync.Pool // *[]byte of ChunkSize+ScanOverlap
	labelMin scan.Confidence
	gate     *gate
	part     int
	par      int

	bp    *[]byte // the chunk being filled
	n     int     // bytes in it
	base  int64   // stream offset of its first byte
	lines int     // newlines before it
	first bool    // it is the stream's first chunk

	jobs    chan scanJob // nil until the first full chunk (par > 1)
	workers sync.WaitGroup
	closed  bool

	mu     sync.Mutex // guards labels and err
	labels map[string]*meta.Label
	err    *RejectedError // the earliest refusal found
	failed atomic.Bool    // err is set
}

// scanJob is one chunk for a scan worker; the worker returns bp to the pool.
type scanJob struct {
	bp          *[]byte
	n           int
	base        int64
	lines       int
	first, last bool
}

// newStreamScanner returns a scanner for one stream; part names the
// multipart part in errors (0 for a whole object). release must be called.
func (s *Service) newStreamScanner(g *gate, part int) *streamScanner {
	return &streamScanner{
		engine: s.scan.Engine, pool: &s.scanBufs, labelMin: s.scan.LabelMin, gate: g, part: part,
		par: s.scan.Parallel, bp: s.scanBufs.Get().(*[]byte), first: true,
		labels: map[string]*meta.Label{},
	}
}

// release stops the workers and returns the buffers; the scanner is done.
// It may follow Close or replace it (an aborted upload).
func (ss *streamScanner) release() {
	if ss == nil {
		return
	}
	ss.stop()
	if ss.bp != nil {
		ss.pool.Put(ss.bp)
		ss.bp = nil
	}
}

// stop closes the job queue and waits for the workers.
func (ss *streamScanner) stop() {
	if ss.jobs != nil && !ss.closed {
		close(ss.jobs)
		ss.workers.Wait()
	}
	ss.closed = true
}

// rejected returns the refusal found so far, as an error.
func (ss *streamScanner) rejected() error {
	if !ss.failed.Load() {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.err
}

// Write scans p as the next bytes of the stream. It fails with a
// *RejectedError once a finding fails the gate.
func (ss *streamScanner) Write(p []byte) (int, error) {
	if err := ss.rejected(); err != nil {
		return 0, err
	}
	written := len(p)
	for len(p) > 0 {
		buf := *ss.bp
		k := copy(buf[ss.n:], p)
		ss.n += k
		p = p[k:]
		if ss.n < len(buf) {
			break
		}
		ss.submit(false)
		if err := ss.rejected(); err != nil {
			return written - len(p), err
		}
	}
	return written, nil
}

// submit hands the full (or, when last, final) chunk over to be scanned and
// starts the next one with the overlap.
func (ss *streamScanner) submit(last bool) {
	j := scanJob{bp: ss.bp, n: ss.n, base: ss.base, lines: ss.lines, first: ss.first, last: last}
	if last {
		ss.bp = nil
	} else {
		keep := ScanOverlap
		buf := *ss.bp
		ss.lines += bytes.Count(buf[:ss.n-keep], []byte{'\n'})
		next := ss.pool.Get().(*[]byte)
		copy(*next, buf[ss.n-keep:ss.n])
		ss.bp, ss.base, ss.n, ss.first = next, ss.base+int64(ss.n-keep), keep, false
	}
	if ss.par <= 1 {
		ss.scanChunk(j)
		return
	}
	if ss.jobs == nil {
		ss.jobs = make(chan scanJob, ss.par)
		for range ss.par {
			ss.workers.Add(1)
			go func() {
				defer ss.workers.Done()
				for j := range ss.jobs {
					if !ss.failed.Load() {
						ss.scanChunk(j)
					} else {
						ss.pool.Put(j.bp)
					}
				}
			}()
		}
	}
	ss.jobs <- j
}

// Close scans what is left and waits for the scans in flight; the stream
// has ended.
func (ss *streamScanner) Close() error {
	if ss.bp != nil && (ss.n > 0 && !ss.failed.Load()) {
		ss.submit(true)
	}
	ss.stop()
	return ss.rejected()
}

// scanChunk scans one chunk, merges its findings and returns its buffer.
func (ss *streamScanner) scanChunk(j scanJob) {
	chunk := (*j.bp)[:j.n]
	fs := ss.engine.ScanChunk(chunk, j.base, scan.Location{Line: j.lines})
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, f := range fs {
		if !scan.Owns(f.Location.Start, j.base, len(chunk), ScanOverlap, j.first, j.last) {
			continue
		}
		if ss.gate.refuses(f) {
			if ss.err == nil || f.Location.Start < ss.err.Offset {
				ss.err = &RejectedError{
					Type: f.Type, Rule: f.Rule, Confidence: f.Confidence,
					Line: f.Location.Line, Offset: f.Location.Start, Part: ss.part,
				}
				ss.failed.Store(true)
			}
			continue
		}
		if f.Confidence < ss.labelMin || f.Type == "" {
			continue
		}
		l := ss.labels[f.Type]
		if l == nil {
			l = &meta.Label{Type: f.Type, Line: f.Location.Line, Offset: f.Location.Start}
			ss.labels[f.Type] = l
		} else if f.Location.Start < l.Offset {
			l.Line, l.Offset = f.Location.Line, f.Location.Start
		}
		l.Count++
		l.Confidence = max(l.Confidence, int(f.Confidence))
	}
	ss.pool.Put(j.bp) // submit has moved on to another buffer
}

// result is the scan record of the stream.
func (ss *streamScanner) result(at time.Time) *meta.ObjectScan {
	sc := &meta.ObjectScan{Scanned: at, Labels: make([]meta.Label, 0, len(ss.labels))}
	for _, typ := range slices.Sorted(maps.Keys(ss.labels)) {
		sc.Labels = append(sc.Labels, *ss.labels[typ])
	}
	return sc
}

// notifyLabels tells ScanConfig.OnLabels about a recorded scan.
func (s *Service) notifyLabels(ctx context.Context, bucket, key, versionID string, sc *meta.ObjectScan) {
	if s.scan.OnLabels != nil && sc != nil {
		s.scan.OnLabels(ctx, bucket, key, versionID, sc.Labels)
	}
}

// ScanState says whether a version has been scanned.
type ScanState string

// The scan states.
const (
	ScanDone    ScanState = "scanned"
	ScanPending ScanState = "pending" // waiting for (or in) the background queue
	ScanOff     ScanState = "off"     // scanning is turned off on this server
)

// PendingLabel is the label policy decisions see on a version that has not
// been scanned yet, so a policy can fail closed on it.
const PendingLabel = "scan:pending"

// LabelTagPrefix starts the reserved tag keys that show labels through
// GetObjectTagging: "coffer:label:secret:aws_access_key" = "LIKELY".
// Users cannot set tags under ReservedTagPrefix.
const (
	ReservedTagPrefix = "coffer:"
	LabelTagPrefix    = "coffer:label:"
)

// ObjectLabels describes what scanning found in the current version.
type ObjectLabels struct {
	Bucket    string
	Key       string
	VersionID string
	Size      int64
	State     ScanState
	Scanned   time.Time // zero unless State is ScanDone
	Labels    []meta.Label
}

// Names returns the label types, or [PendingLabel] for a version not
// scanned yet (what policy conditions see as object.labels).
func (l ObjectLabels) Names() []string {
	if l.State == ScanPending {
		return []string{PendingLabel}
	}
	out := make([]string, len(l.Labels))
	for i, lb := range l.Labels {
		out[i] = lb.Type
	}
	return out
}

// Labels returns the scan labels of the current version of bucket/key.
func (s *Service) Labels(ctx context.Context, bucket, key string) (ObjectLabels, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return ObjectLabels{}, err
	}
	op := fmt.Sprintf("labels %s/%s", bucket, key)
	sc, err := s.meta.GetObjectScan(ctx, bucket, key)
	if err != nil {
		return ObjectLabels{}, s.missing(ctx, op, bucket, err)
	}
	out := ObjectLabels{Bucket: bucket, Key: key, VersionID: sc.VersionID, Size: sc.Size, Labels: sc.Labels, Scanned: sc.Scanned}
	switch {
	case !sc.Scanned.IsZero():
		out.State = ScanDone
	case s.scanning():
		out.State = ScanPending
	default:
		out.State = ScanOff
	}
	if out.Labels == nil {
		out.Labels = []meta.Label{}
	}
	return out, nil
}

// labelTags turns at most room labels into reserved tags, the most
// confident first (then by type).
func labelTags(labels []meta.Label, room int) map[string]string {
	ls := slices.Clone(labels)
	slices.SortStableFunc(ls, func(a, b meta.Label) int { return b.Confidence - a.Confidence })
	out := make(map[string]string, min(len(ls), max(room, 0)))
	for _, l := range ls[:min(len(ls), max(room, 0))] {
		out[LabelTagPrefix+l.Type] = scan.Confidence(l.Confidence).String()
	}
	return out
}

// BucketScanSettings are a bucket's scan settings.
type BucketScanSettings struct {
	Reject        []string
	MinConfidence scan.Confidence // 0 in a setting means the default
}

// SetBucketScan replaces a bucket's scan settings; an empty Reject turns
// the gate off. Entries are validated as ParseReject does.
func (s *Service) SetBucketScan(ctx context.Context, bucket string, set BucketScanSettings) error {
	if err := ValidBucketName(bucket); err != nil {
		return err
	}
	reject, err := ParseReject(strings.Join(set.Reject, ","))
	if err != nil {
		return err
	}
	if set.MinConfidence != 0 && (set.MinConfidence < scan.VeryUnlikely || set.MinConfidence > scan.VeryLikely) {
		return fmt.Errorf("%w: confidence %d", ErrInvalidArgument, set.MinConfidence)
	}
	if err := s.meta.PutBucketScan(ctx, bucket, meta.BucketScan{Reject: reject, MinConfidence: int(set.MinConfidence)}); err != nil {
		return metaErr("set scan settings of "+bucket, err)
	}
	return nil
}

// BucketScan returns a bucket's scan settings, with the default confidence
// filled in.
func (s *Service) BucketScan(ctx context.Context, bucket string) (BucketScanSettings, error) {
	if err := ValidBucketName(bucket); err != nil {
		return BucketScanSettings{}, err
	}
	bs, err := s.meta.GetBucketScan(ctx, bucket)
	if err != nil {
		return BucketScanSettings{}, metaErr("read scan settings of "+bucket, err)
	}
	out := BucketScanSettings{Reject: bs.Reject, MinConfidence: scan.Confidence(bs.MinConfidence)}
	if out.Reject == nil {
		out.Reject = []string{}
	}
	if out.MinConfidence == 0 {
		out.MinConfidence = DefaultRejectConfidence
	}
	return out, nil
}

// afterWrite follows a recorded version: its labels go to OnLabels, or,
// when it was stored unscanned, it goes to the background queue.
func (s *Service) afterWrite(ctx context.Context, o meta.Object) {
	if !s.scanning() {
		return
	}
	if o.Scan != nil {
		s.notifyLabels(ctx, o.Bucket, o.Key, o.VersionID, o.Scan)
		return
	}
	s.enqueue(meta.ScanJob{Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, Size: o.Size})
}
