package audit

// The Log is a group-committed, fsynced append log. Callers hand their
// event to Append, which seals the payload and queues a small request; one
// writer goroutine takes whatever is queued (up to MaxBatch), appends the
// leaf records and payload records to the current segments, fsyncs both
// files, and only then answers every caller in the batch. Many concurrent
// appenders thus share one fsync. The queue is bounded: when it is full,
// Append waits, up to its context.
//
// The durable leaf records are the source of truth. A second goroutine, the
// integrator, folds newly durable leaves into the Merkle tree, writes the
// C2SP tiles and issues a signed checkpoint every CheckpointInterval while
// there are new entries; it lags the durable append by at most that
// interval.
//
// The log fails closed: after any write, fsync or integration error it
// answers every Append with ErrUnavailable until it is closed and reopened,
// and it tries to cut the failed batch off again so that nothing is
// half-written. Opening a log recovers from a crash by truncating a torn
// tail (records that never reached an acknowledged fsync).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	// ErrUnavailable means the ledger cannot persist events: the request
	// must fail (fail closed). A log that returned it once keeps returning
	// it until reopened.
	ErrUnavailable = errors.New("audit: ledger unavailable")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit: ledger closed")
	// ErrCorrupt means the ledger on disk is inconsistent in a way that
	// recovery must not paper over (for example, fewer durable entries than
	// a signed checkpoint covers). Run Verify.
	ErrCorrupt = errors.New("audit: ledger corrupt")
)

// Options configure a Log. The zero value of every field except Sealer is
// usable.
type Options struct {
	// Origin names the log in checkpoints and is the signing key's name.
	// Default "coffer/audit". It cannot change once the key exists.
	Origin string
	// Sealer seals payloads per data subject. Required.
	Sealer Sealer
	// QueueSize bounds the events waiting for the writer. Default 8192:
	// enough for a full batch to wait while the previous one is fsynced.
	QueueSize int
	// MaxBatch bounds the events written with one fsync. Default 4096,
	// which keeps one batch's write under about 2 MB.
	MaxBatch int
	// SegmentEntries is the number of records per segment file. Default
	// 1<<20 (36 MiB of leaf records).
	SegmentEntries int64
	// CheckpointInterval is how often the integrator signs a checkpoint
	// while there are new entries. Default 1s, the longest interval the
	// ledger's contract allows. New entries are folded into the tree and
	// full tiles written every tenth of it.
	CheckpointInterval time.Duration
	// PreallocBytes is how far ahead of the data the payload segment is
	// filled with zeros (the leaf segment an eighth of it), so that commits
	// need only fdatasync. Default 16 MiB: a few hundred milliseconds of
	// payloads at 100,000 events/s.
	PreallocBytes int64
	// Logger receives lifecycle messages. Default: discard.
	Logger *slog.Logger
	// Now is the clock for events without a time. Default time.Now.
	Now func() time.Time

	// Witnesses are C2SP tlog-witnesses asked to cosign every checkpoint
	// (asynchronously: see WitnessStatus and SyncWitnesses). At most 32.
	Witnesses []WitnessConfig
	// WitnessQuorum is how many witnesses must cosign a checkpoint for
	// WitnessStatus to report the quorum met (k of n). Default: all.
	WitnessQuorum int
	// WitnessHTTPClient talks to the witnesses. Default: a client with a
	// one-minute timeout.
	WitnessHTTPClient *http.Client
	// WitnessRetry is the first delay before retrying a failed witness;
	// it doubles per failure up to five minutes. Default 5s.
	WitnessRetry time.Duration
	// WitnessTimeout bounds one add-checkpoint exchange. Default 10s.
	WitnessTimeout time.Duration

	// openFile is a test seam for injecting failing files.
	openFile func(name string, flag int, perm fs.FileMode) (segmentWriter, error)
}

func (o *Options) setDefaults() {
	if o.Origin == "" {
		o.Origin = "coffer/audit"
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.SegmentEntries <= 0 {
		o.SegmentEntries = 1 << 20
	}
	if o.PreallocBytes <= 0 {
		o.PreallocBytes = 16 << 20
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.openFile == nil {
		o.openFile = func(name string, flag int, perm fs.FileMode) (segmentWriter, error) {
			return os.OpenFile(name, flag, perm)
		}
	}
}

// Log is an open audit ledger. It is safe for concurrent use.
type Log struct {
	dir    string
	opts   Options
	signer note.Signer
	vkey   string

	queue   chan *request
	closing chan struct{}   // closed by Close
	done    chan struct{}   // closed when the writer has exited
	intDone chan struct{}   // closed when the integrator has exited
	kick    chan chan error // Publish requests to the integrator
	closed  sync.Once

	failed atomic.Pointer[error] // first fatal error, if any

	// writer state, owned by the writer goroutine
	size     int64 // next index
	segFirst int64
	logW     *appendFile
	payW     *appendFile
	logBuf   []byte
	payBuf   []byte

	mu       sync.Mutex
	durable  int64         // entries durable (and acknowledged or about to be)
	pending  [][]byte      // durable entries not yet integrated
	lastCkpt []byte        // latest signed checkpoint
	lastSeq  int64         // its sequence number
	grown    chan struct{} // closed and replaced each time durable grows

	pubMu sync.Mutex // serialises writes of <dir>/checkpoint and cosignatures/
	cos   *cosigner  // nil without witnesses

	// integrator state, owned by the integrator goroutine
	fr      frontier
	tl      tiler
	ckptSeq int64
	ckptN   int64
}

type request struct {
	entry   [entrySize]byte
	subject [32]byte
	sealed  []byte
	done    chan result
}

type result struct {
	index int64
	err   error
}

// payloadAD is the associated data a payload is sealed with: it binds the
// payload to its commitment.
func payloadAD(entry []byte) []byte {
	return append([]byte("coffer/audit/payload/v1\x00"), entry...)
}

// Open opens (creating if needed) the ledger in dir, recovers it after a
// crash, and starts its writer and integrator.
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	opts.setDefaults()
	if opts.Sealer == nil {
		return nil, errors.New("audit: Options.Sealer is required")
	}
	for _, d := range []string{dir, filepath.Join(dir, "log"), filepath.Join(dir, "payloads"), filepath.Join(dir, "checkpoints"), filepath.Join(dir, "tile")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("audit: open: %w", err)
		}
	}
	if err := ensureCosignaturesDir(dir); err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	signer, vkey, err := loadOrCreateKey(dir, opts.Origin, logKeyFormat())
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	l := &Log{
		dir:     dir,
		opts:    opts,
		signer:  signer,
		vkey:    vkey,
		queue:   make(chan *request, opts.QueueSize),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		intDone: make(chan struct{}),
		kick:    make(chan chan error),
		grown:   make(chan struct{}),
	}
	if l.cos, err = newCosigner(l); err != nil {
		return nil, err
	}
	if err := l.recover(ctx); err != nil {
		l.closeFiles()
		return nil, err
	}
	opts.Logger.Info("audit ledger open", "dir", dir, "size", l.size, "pubkey", vkey)
	go l.writer()
	go l.integrator()
	if l.cos != nil {
		l.cos.start()
	}
	return l, nil
}

// Dir returns the ledger directory.
func (l *Log) Dir() string { return l.dir }

// PublicKey returns the verifier key of the log's checkpoints.
func (l *Log) PublicKey() string { return l.vkey }

// Size returns the number of durable entries.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Wait blocks until more than n entries are durable and returns the
// durable size. It returns early with ctx.Err(), or with ErrClosed once
// the log is closed and has no more than n entries. Followers (exporters,
// the search indexer) use it to learn of new entries without polling.
func (l *Log) Wait(ctx context.Context, n int64) (int64, error) {
	for {
		l.mu.Lock()
		size, grown := l.durable, l.grown
		l.mu.Unlock()
		if size > n {
			return size, nil
		}
		select {
		case <-grown:
		case <-ctx.Done():
			return size, ctx.Err()
		case <-l.done:
			if size = l.Size(); size > n {
				return size, nil
			}
			return size, ErrClosed
		}
	}
}

// Checkpoint returns the latest signed checkpoint, or nil if none yet.
func (l *Log) Checkpoint() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastCkpt
}

// Err returns the error that made the log unavailable, or nil (for
// health checks).
func (l *Log) Err() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) fail(err error) error {
	err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	if l.failed.CompareAndSwap(nil, &err) {
		l.opts.Logger.Error("audit ledger failed closed", "err", err)
	}
	return *l.failed.Load()
}

// Append records ev and returns its ledger index once the entry and its
// payload are durable. If ctx ends first, Append returns ctx.Err(); the
// event may or may not have been recorded. When the ledger cannot persist
// it returns an error wrapping ErrUnavailable.
func (l *Log) Append(ctx context.Context, ev Event) (int64, error) {
	if err := l.Err(); err != nil {
		return -1, err
	}
	if ev.Time.IsZero() {
		ev.Time = l.opts.Now()
	}
	enc, err := ev.Encode()
	if err != nil {
		return -1, err
	}
	pt := make([]byte, 32+len(enc))
	rand.Read(pt[:32])
	copy(pt[32:], enc)
	r := &request{entry: sha256.Sum256(pt), done: make(chan result, 1)}
	r.subject = subjectHash(ev.Subject())
	sid := hex.EncodeToString(r.subject[:])
	r.sealed, err = l.opts.Sealer.Seal(sid, pt, payloadAD(r.entry[:]))
	if err != nil {
		return -1, fmt.Errorf("%w: seal payload: %w", ErrUnavailable, err)
	}
	select {
	case <-l.closing:
		return -1, ErrClosed
	default:
	}
	select {
	case l.queue <- r:
	case <-ctx.Done():
		return -1, ctx.Err()
	case <-l.closing:
		return -1, ErrClosed
	}
	select {
	case res := <-r.done:
		return res.index, res.err
	case <-ctx.Done():
		return -1, ctx.Err()
	case <-l.done:
		// The writer answers everything it dequeued before exiting.
		select {
		case res := <-r.done:
			return res.index, res.err
		default:
			return -1, ErrClosed
		}
	}
}

// Close stops accepting events, writes those already queued, issues a
// final checkpoint and closes the files.
func (l *Log) Close() error {
	l.closed.Do(func() { close(l.closing) })
	<-l.done
	<-l.intDone
	if l.cos != nil {
		l.cos.close()
	}
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	if l.logW != nil {
		errs = append(errs, l.logW.close())
		l.logW = nil
	}
	if l.payW != nil {
		errs = append(errs, l.payW.close())
		l.payW = nil
	}
	return errors.Join(errs...)
}

// writer is the group-commit loop.
func (l *Log) writer() {
	defer close(l.done)
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		var first *request
		select {
		case first = <-l.queue:
		case <-l.closing:
			// Write what is already queued, then stop.
			select {
			case first = <-l.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < l.opts.MaxBatch {
			select {
			case r := <-l.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

// commit makes batch durable and answers its callers.
func (l *Log) commit(batch []*request) {
	if err := l.Err(); err != nil {
		for _, r := range batch {
			r.done <- result{-1, err}
		}
		return
	}
	for len(batch) > 0 {
		k := min(int64(len(batch)), l.opts.SegmentEntries-(l.size-l.segFirst))
		if k == 0 {
			if err := l.roll(); err != nil {
				err = l.fail(fmt.Errorf("roll segment: %w", err))
				for _, r := range batch {
					r.done <- result{-1, err}
				}
				return
			}
			continue
		}
		if err := l.writeChunk(batch[:k]); err != nil {
			err = l.fail(err)
			for _, r := range batch {
				r.done <- result{-1, err}
			}
			return
		}
		batch = batch[k:]
	}
}

// writeChunk appends reqs (all in the current segment) and fsyncs.
func (l *Log) writeChunk(reqs []*request) error {
	l.logBuf = l.logBuf[:0]
	l.payBuf = l.payBuf[:0]
	for i, r := range reqs {
		idx := l.size + int64(i)
		l.logBuf = appendLogRecord(l.logBuf, idx, r.entry[:])
		l.payBuf = appendPayloadRecord(l.payBuf, idx, r.subject[:], r.sealed)
	}
	undo := func(err error) error {
		// Cut the chunk off again so nothing is half-written; if even that
		// fails, recovery on reopen will (the records were never
		// acknowledged).
		l.payW.undo()
		l.logW.undo()
		return err
	}
	// Payloads first: a leaf record must never be durable without its
	// payload. Both are fsynced before anyone is answered, and recovery
	// cuts both back to their common durable prefix.
	if err := l.payW.write(l.payBuf); err != nil {
		return undo(fmt.Errorf("write payloads: %w", err))
	}
	if err := l.logW.write(l.logBuf); err != nil {
		return undo(fmt.Errorf("write log: %w", err))
	}
	payErr := make(chan error, 1)
	go func() { payErr <- l.payW.commit() }()
	logErr := l.logW.commit()
	if err := errors.Join(<-payErr, logErr); err != nil {
		return undo(fmt.Errorf("fsync: %w", err))
	}
	base := l.size
	l.size += int64(len(reqs))

	l.mu.Lock()
	for _, r := range reqs {
		l.pending = append(l.pending, r.entry[:])
	}
	l.durable = l.size
	close(l.grown)
	l.grown = make(chan struct{})
	l.mu.Unlock()
	for i, r := range reqs {
		r.done <- result{base + int64(i), nil}
	}
	return nil
}

// roll closes the current segments and starts new ones at l.size.
func (l *Log) roll() error {
	if err := l.closeFiles(); err != nil {
		return err
	}
	return l.openSegments(l.size, 0, 0)
}

// openSegments opens (creating if needed) the segment pair starting at
// first for appending at the given offsets.
func (l *Log) openSegments(first, logOff, payOff int64) error {
	lw, err := l.opts.openFile(filepath.Join(l.dir, "log", segmentName(first)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	pw, err := l.opts.openFile(filepath.Join(l.dir, "payloads", segmentName(first)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		lw.Close()
		return err
	}
	if err := fsutil.SyncDir(filepath.Join(l.dir, "log")); err != nil {
		lw.Close()
		pw.Close()
		return err
	}
	if err := fsutil.SyncDir(filepath.Join(l.dir, "payloads")); err != nil {
		lw.Close()
		pw.Close()
		return err
	}
	l.logW = newAppendFile(lw, logOff, l.opts.PreallocBytes/8)
	l.payW = newAppendFile(pw, payOff, l.opts.PreallocBytes)
	l.segFirst = first
	return nil
}

// integrator folds durable entries into the tree and issues checkpoints.
func (l *Log) integrator() {
	defer close(l.intDone)
	// Integrate in small steps so that hashing and tile writing never
	// take a core away from appenders for long; sign once per interval.
	step := max(l.opts.CheckpointInterval/10, time.Millisecond)
	t := time.NewTicker(step)
	defer t.Stop()
	lastPub := time.Now()
	for {
		var reply chan error
		final := false
		select {
		case <-t.C:
		case reply = <-l.kick:
		case <-l.done:
			final = true
		}
		pub := reply != nil || final || time.Since(lastPub) >= l.opts.CheckpointInterval-step/2
		err := l.integrate(pub)
		if pub {
			lastPub = time.Now()
		}
		if err != nil {
			err = l.fail(err)
		}
		if reply != nil {
			reply <- err
		}
		if final {
			return
		}
	}
}

// Publish integrates every entry durable so far and signs a checkpoint for
// it now, instead of at the next CheckpointInterval tick.
func (l *Log) Publish(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.kick <- reply:
	case <-l.intDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// integrate adds pending entries to the tree and writes the full tiles
// they complete; if pub, it also writes the partial tiles and signs a
// checkpoint for the new size.
func (l *Log) integrate(pub bool) error {
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	var full []tileData
	for _, e := range pending {
		n := l.fr.n
		hs, err := l.fr.add(e)
		if err != nil {
			return fmt.Errorf("integrate: %w", err)
		}
		full = l.tl.add(n, e, hs, full)
	}
	for _, td := range full {
		if err := writeTile(l.dir, td); err != nil {
			return fmt.Errorf("integrate: %w", err)
		}
	}
	if !pub || l.fr.n == l.ckptN {
		return nil
	}
	if err := l.publish(nil); err != nil {
		return fmt.Errorf("integrate: %w", err)
	}
	return nil
}

// publish writes tiles, then a checkpoint for the current tree.
func (l *Log) publish(full []tileData) error {
	for _, td := range append(full, l.tl.partial()...) {
		if err := writeTile(l.dir, td); err != nil {
			return err
		}
	}
	// Tiles are not fsynced: they are derived from the durable records,
	// and Open rewrites any tile a power loss may have cut short. (Syncing
	// them here, even with one syncfs, stalls the writer's fsyncs.)
	root, err := l.fr.root()
	if err != nil {
		return err
	}
	c := Checkpoint{Origin: l.opts.Origin, Tree: tlog.Tree{N: l.fr.n, Hash: root}}
	msg, err := signCheckpoint(c, l.signer)
	if err != nil {
		return err
	}
	l.ckptSeq++
	if err := fsutil.WriteFile(filepath.Join(l.dir, "checkpoints", segmentName(l.ckptSeq)), msg, 0o644, true); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	l.pubMu.Lock()
	err = fsutil.WriteFile(filepath.Join(l.dir, "checkpoint"), publishedCheckpoint(l.dir, l.ckptSeq, msg), 0o644, false)
	if err == nil {
		l.mu.Lock()
		l.lastCkpt, l.lastSeq = msg, l.ckptSeq
		l.mu.Unlock()
	}
	l.pubMu.Unlock()
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	l.ckptN = c.Tree.N
	if l.cos != nil {
		l.cos.notify()
	}
	return nil
}

// writeTile writes one tile file atomically (temporary file and rename).
func writeTile(dir string, td tileData) error {
	path := filepath.Join(dir, filepath.FromSlash(tilePath(td.tile)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, td.data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
