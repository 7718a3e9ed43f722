package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
)

var (
	// ErrPermanent is wrapped by a sink's error when retrying cannot help
	// (a webhook answering 4xx, a bad configuration). The Follower stops
	// and Run returns the error; the cursor stays before the batch, so
	// nothing is skipped when the operator has fixed the cause and
	// restarts it.
	ErrPermanent = errors.New("export: permanent delivery error")
	// ErrCursorAhead reports a cursor beyond the end of the ledger: the
	// ledger was rolled back or replaced, or the state directory belongs
	// to another ledger. The Follower refuses to start rather than
	// silently skipping or re-sending.
	ErrCursorAhead = errors.New("export: cursor is beyond the end of the ledger")
	// ErrRunning is returned by Run while another Run of the same Follower
	// is active.
	ErrRunning = errors.New("export: follower already running")
)

// Permanent marks err as permanent (see ErrPermanent).
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// A Sink receives records. Implementations need not be safe for concurrent
// use: a Follower calls Deliver from one goroutine, and Close after Run.
type Sink interface {
	// Name identifies the sink and names its cursor file
	// (<state dir>/<name>.cursor): 1 to 64 of [A-Za-z0-9._-], starting
	// with a letter or digit. It must not change across restarts.
	Name() string
	// Deliver sends a batch of consecutive records in index order. It
	// returns nil only once the receiver has acknowledged every record
	// (as far as the transport allows; see each sink). A failed Deliver
	// is retried with the same batch; an error wrapping ErrPermanent stops
	// the Follower.
	Deliver(ctx context.Context, batch []Record) error
	// Close releases the sink's connections and files.
	Close() error
}

// A Source tells a Follower how many ledger entries are durable and wakes
// it when there are more. *audit.Log is a Source; CheckpointSource polls a
// ledger directory another process writes.
type Source interface {
	// Size returns the number of durable entries.
	Size() int64
	// Wait blocks until more than n entries are durable and returns the
	// durable size, or ctx.Err(), or audit.ErrClosed when no more will come.
	Wait(ctx context.Context, n int64) (int64, error)
}

// Options configure a Follower. The zero value of every field is usable.
type Options struct {
	// Source reports durable entries. Default: CheckpointSource on the
	// ledger directory, polling every second (entries then reach the sink
	// once a signed checkpoint covers them). In the server, pass the open
	// *audit.Log: it wakes the Follower as soon as an append is durable.
	Source Source
	// MaxBatch bounds the records in one Deliver. Default 1024 (about
	// 500 KB of JSON): each batch costs the sink an fsync or a round trip
	// and the cursor an fsync, so batches set the export rate.
	MaxBatch int
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// delivery (or read); it doubles from MinBackoff up to MaxBackoff, with
	// jitter. Defaults 250ms and 1 minute.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Logger receives delivery failures and recoveries. Default: discard.
	Logger *slog.Logger

	// sleep waits between retries; a test seam.
	sleep func(ctx context.Context, d time.Duration) error
}

func (o *Options) setDefaults(dir string) {
	if o.Source == nil {
		o.Source = &CheckpointSource{Dir: dir}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.sleep == nil {
		o.sleep = sleepCtx
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the wait before retry number attempt (1, 2, ...).
func (o *Options) backoff(attempt int) time.Duration {
	d := o.MaxBackoff
	if attempt < 30 {
		d = min(o.MinBackoff<<(attempt-1), o.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1) // jitter, so that many followers do not retry in step
}

// Status is a snapshot of a Follower's progress, for health checks and
// `coffer audit export status`.
type Status struct {
	Sink string
	// Cursor is the index of the next entry to deliver (the number of
	// entries the sink has acknowledged).
	Cursor int64
	// Size is the ledger size the Follower last saw; Size-Cursor is the lag.
	Size int64
	// Failures counts consecutive failed attempts; LastError is the latest
	// failure's message ("" after a success).
	Failures  int
	LastError string
	// LastDelivery is when a batch was last acknowledged.
	LastDelivery time.Time
	Running      bool
}

// Follower feeds one sink from the ledger, from its persisted cursor on.
type Follower struct {
	dir      string
	sealer   audit.Sealer
	stateDir string
	sink     Sink
	opts     Options
	running  atomic.Bool

	mu     sync.Mutex
	status Status
}

// NewFollower returns a Follower that reads the ledger in dir (opening
// payloads with sealer) and feeds sink, keeping the sink's cursor in
// stateDir (created if needed).
func NewFollower(dir string, sealer audit.Sealer, stateDir string, sink Sink, opts Options) (*Follower, error) {
	if sealer == nil || sink == nil {
		return nil, errors.New("export: follower needs a sealer and a sink")
	}
	if !validName.MatchString(sink.Name()) {
		return nil, fmt.Errorf("export: invalid sink name %q", sink.Name())
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("export: state dir: %w", err)
	}
	opts.setDefaults(dir)
	cur, err := ReadCursor(stateDir, sink.Name())
	if err != nil {
		return nil, err
	}
	f := &Follower{dir: dir, sealer: sealer, stateDir: stateDir, sink: sink, opts: opts}
	f.status = Status{Sink: sink.Name(), Cursor: cur, Size: opts.Source.Size()}
	return f, nil
}

// Status returns the Follower's progress.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.status
	s.Running = f.running.Load()
	return s
}

func (f *Follower) update(fn func(*Status)) {
	f.mu.Lock()
	fn(&f.status)
	f.mu.Unlock()
}

// Run delivers entries from the sink's cursor on, following the ledger as
// it grows, until ctx ends (it then returns ctx.Err()), the Source closes
// (nil), or an error that retrying cannot fix: a permanent sink error, a
// ledger integrity error, a cursor that cannot be written, or
// ErrCursorAhead. Failed deliveries and reads are retried with backoff.
// Run does not close the sink.
func (f *Follower) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	name := f.sink.Name()
	cur, err := ReadCursor(f.stateDir, name)
	if err != nil {
		return err
	}
	if size := f.opts.Source.Size(); cur > size {
		return fmt.Errorf("%w: sink %s at %d, ledger has %d entries", ErrCursorAhead, name, cur, size)
	}
	f.update(func(s *Status) { s.Cursor = cur })
	t := &tailer{dir: f.dir, sealer: f.sealer, src: f.opts.Source, next: cur, max: f.opts.MaxBatch}
	defer t.close()
	log := f.opts.Logger.With("sink", name)
	failures := 0
	fail := func(what string, err error) error {
		failures++
		log.Warn("audit export: "+what+" failed; retrying", "cursor", cur, "attempt", failures, "err", err)
		f.update(func(s *Status) { s.Failures, s.LastError = failures, err.Error() })
		return f.opts.sleep(ctx, f.opts.backoff(failures))
	}
	for {
		batch, size, err := t.read(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, audit.ErrClosed):
			return nil
		case errors.Is(err, audit.ErrIntegrity), errors.Is(err, audit.ErrCorrupt):
			log.Error("audit export: ledger entry unreadable; stopped", "cursor", cur, "err", err)
			f.update(func(s *Status) { s.LastError = err.Error() })
			return err
		default:
			t.close() // reopen at the cursor
			if err := fail("read", err); err != nil {
				return err
			}
			continue
		}
		f.update(func(s *Status) { s.Size = size })
		for {
			err := f.sink.Deliver(ctx, batch)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrPermanent) {
				log.Error("audit export: permanent delivery error; stopped", "cursor", cur, "err", err)
				f.update(func(s *Status) { s.Failures, s.LastError = failures+1, err.Error() })
				return fmt.Errorf("export: sink %s at %d: %w", name, cur, err)
			}
			if err := fail("delivery", err); err != nil {
				return err
			}
		}
		next := batch[len(batch)-1].Index + 1
		// The batch is delivered; a cursor that cannot be written (a full
		// disk, say) is retried, not fatal: at worst the batch is sent
		// again after a crash.
		for {
			err := writeCursor(f.stateDir, name, next)
			if err == nil {
				break
			}
			if err := fail("cursor write", err); err != nil {
				return err
			}
		}
		if failures > 0 {
			log.Info("audit export: delivering again", "cursor", next, "after_failures", failures)
		}
		cur, failures = next, 0
		f.update(func(s *Status) {
			s.Cursor, s.Failures, s.LastError, s.LastDelivery = next, 0, "", time.Now()
		})
	}
}

// tailer reads batches of records in order from next on, waiting for the
// source when it has caught up.
type tailer struct {
	dir    string
	sealer audit.Sealer
	src    Source
	next   int64
	max    int
	r      *audit.Reader
}

func (t *tailer) close() {
	if t.r != nil {
		t.r.Close()
		t.r = nil
	}
}

// read returns the next batch (at least one record) and the durable size
// it read up to.
func (t *tailer) read(ctx context.Context) ([]Record, int64, error) {
	size, err := t.src.Wait(ctx, t.next)
	if err != nil {
		return nil, size, err
	}
	if t.r == nil {
		if t.r, err = audit.NewReader(t.dir, t.sealer, t.next); err != nil {
			return nil, size, err
		}
	}
	es, err := t.r.ReadBatch(ctx, size, t.max)
	recs := make([]Record, 0, len(es))
	for _, e := range es {
		rec, rerr := recordFromEntry(e)
		if rerr != nil {
			err = fmt.Errorf("%w: %w", audit.ErrIntegrity, rerr)
			break
		}
		recs = append(recs, rec)
	}
	if len(recs) > 0 {
		// Deliver what was read; a read error comes back on the next call.
		t.next = recs[len(recs)-1].Index + 1
		if err != nil {
			t.close()
		}
		return recs, size, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: no entry at %d of %d", audit.ErrCorrupt, t.next, size)
	}
	return nil, size, err
}

// Stream calls fn with every record from index from onwards, in order,
// following the ledger as it grows, until ctx ends, src closes (nil) or fn
// or a read fails. It keeps no cursor: it is what `coffer audit tail -f`
// serves (the caller resumes from the last index it printed plus one).
func Stream(ctx context.Context, dir string, sealer audit.Sealer, src Source, from int64, fn func(Record) error) error {
	if from < 0 || from > src.Size() {
		return fmt.Errorf("export: stream from %d: ledger has %d entries", from, src.Size())
	}
	t := &tailer{dir: dir, sealer: sealer, src: src, next: from, max: 256}
	defer t.close()
	for {
		batch, _, err := t.read(ctx)
		if errors.Is(err, audit.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// CheckpointSource is a Source for a ledger directory written by another
// process: it counts the entries covered by the latest signed checkpoint
// (checked with PublicKey, or the directory's key.pub), which are durable
// by construction, and polls for a newer one.
type CheckpointSource struct {
	Dir       string
	PublicKey string
	// Interval between polls; default 1s (the ledger's checkpoint interval).
	Interval time.Duration
}

// maxCheckpointSize bounds the checkpoint file read, as the ledger bounds
// the one it serves.
const maxCheckpointSize = 64 << 10

// Size returns the size of the latest checkpoint, 0 if there is none or it
// does not verify.
func (c *CheckpointSource) Size() int64 {
	n, _ := c.size()
	return n
}

func (c *CheckpointSource) size() (int64, error) {
	vkey := c.PublicKey
	if vkey == "" {
		var err error
		if vkey, err = audit.ReadPublicKey(c.Dir); err != nil {
			return 0, err
		}
	}
	msg, err := fsutil.ReadFile(filepath.Join(c.Dir, "checkpoint"), maxCheckpointSize)
	if err != nil {
		return 0, err
	}
	cp, err := audit.OpenCheckpoint(msg, vkey)
	if err != nil {
		return 0, err
	}
	return cp.Tree.N, nil
}

// Wait polls until a checkpoint covers more than n entries.
func (c *CheckpointSource) Wait(ctx context.Context, n int64) (int64, error) {
	every := c.Interval
	if every <= 0 {
		every = time.Second
	}
	for {
		if size, _ := c.size(); size > n {
			return size, nil
		}
		if err := sleepCtx(ctx, every); err != nil {
			return 0, err
		}
	}
}

// Fetch returns the record of ledger entry index, which src must report
// durable: what a search result's index leads to (with audit.Prove for its
// inclusion proof).
func Fetch(ctx context.Context, dir string, sealer audit.Sealer, src Source, index int64) (Record, error) {
	if index < 0 || index >= src.Size() {
		return Record{}, fmt.Errorf("export: fetch %d: ledger has %d entries", index, src.Size())
	}
	r, err := audit.NewReader(dir, sealer, index)
	if err != nil {
		return Record{}, err
	}
	defer r.Close()
	es, err := r.ReadBatch(ctx, index+1, 1)
	if err != nil {
		return Record{}, err
	}
	if len(es) != 1 {
		return Record{}, fmt.Errorf("%w: no entry at %d", audit.ErrCorrupt, index)
	}
	return recordFromEntry(es[0])
}
