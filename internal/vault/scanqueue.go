package vault

// The background scan queue: versions too large to scan inline (and the
// versions of completed multipart uploads over ScanConfig.InlineMax) are
// scanned after they are stored, by ScanConfig.Workers goroutines fed
// through a channel of ScanConfig.QueueSize jobs.
//
// The queue keeps nothing of its own: a version is "to be scanned" exactly
// while the metadata store has no scan record for it. So nothing is lost
// when the queue is full (the job is dropped and the store is swept again
// once the queue has drained) or when the server stops (RunScanQueue sweeps
// the store when it starts, which also scans objects stored before
// scanning existed). A job whose version has been replaced or already
// scanned is skipped.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// scanQueue is the background queue's state.
type scanQueue struct {
	jobs     chan meta.ScanJob
	resweep  atomic.Bool   // a job was dropped: sweep the store again
	wake     chan struct{} // cap 1: a sweep is wanted
	running  atomic.Int64  // scans in progress
	done     atomic.Int64  // scans recorded since start
	failed   atomic.Int64  // scans that failed (left unscanned)
	dropped  atomic.Int64  // jobs dropped because the queue was full
	sweeping atomic.Bool
	pace     pacer // ScanConfig.BackgroundRate, across scans and workers
}

// pacer spreads reads over time at a rate in bytes/s. It keeps the time at
// which the bytes read so far are paid for, across scans, so that many
// small objects (a sweep of a store filled before scanning was on) are
// held to the rate as one large object is. Idle time earns no credit.
type pacer struct {
	mu  sync.Mutex
	due time.Time
}

// charge records n bytes read at now, at rate bytes/s.
func (p *pacer) charge(now time.Time, n int, rate int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.due.Before(now) {
		p.due = now
	}
	p.due = p.due.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
}

// delay is how long a read at now must wait for the bytes read before it.
func (p *pacer) delay(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.due.Sub(now), 0)
}

func newScanQueue(size int) *scanQueue {
	return &scanQueue{jobs: make(chan meta.ScanJob, size), wake: make(chan struct{}, 1)}
}

// ScanQueueStatus reports the background queue's progress.
type ScanQueueStatus struct {
	Queued   int   `json:"queued"`   // jobs waiting in the queue
	Running  int64 `json:"running"`  // scans in progress
	Done     int64 `json:"done"`     // scans recorded since the server started
	Failed   int64 `json:"failed"`   // scans that failed; the versions stay unscanned
	Dropped  int64 `json:"dropped"`  // jobs that found the queue full (picked up by a later sweep)
	Sweeping bool  `json:"sweeping"` // the store is being searched for unscanned versions
}

// ScanQueueStatus returns the background queue's counters.
func (s *Service) ScanQueueStatus() ScanQueueStatus {
	q := s.queue
	return ScanQueueStatus{
		Queued: len(q.jobs), Running: q.running.Load(), Done: q.done.Load(),
		Failed: q.failed.Load(), Dropped: q.dropped.Load(), Sweeping: q.sweeping.Load(),
	}
}

// enqueue asks for a background scan of a stored version without waiting:
// when the queue is full the job is dropped and a sweep is scheduled.
func (s *Service) enqueue(j meta.ScanJob) {
	select {
	case s.queue.jobs <- j:
	default:
		s.queue.dropped.Add(1)
		s.queue.resweep.Store(true)
	}
}

// sweepBatch is how many unscanned versions one store query returns.
const sweepBatch = 100

// RunScanQueue scans stored versions in the background until ctx ends. It
// first sweeps the metadata store for versions without a scan record (left
// by a restart, or stored before scanning existed), then serves the queue,
// sweeping again whenever jobs were dropped. It returns at once when
// scanning is off. Run it once per Service.
func (s *Service) RunScanQueue(ctx context.Context) {
	if !s.scanning() {
		return
	}
	q := s.queue
	workersDone := make(chan struct{})
	go func() {
		defer close(workersDone)
		s.runScanWorkers(ctx)
	}()
	select { // the first sweep (a worker may have asked for one already)
	case q.wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-ctx.Done():
			<-workersDone
			return
		case <-q.wake:
			q.resweep.Store(false)
			q.sweeping.Store(true)
			if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("vault: sweep for unscanned objects", "err", err)
			}
			q.sweeping.Store(false)
		}
	}
}

// sweep queues every unscanned version, waiting for room in the queue.
func (s *Service) sweep(ctx context.Context) error {
	for after := int64(0); ; {
		jobs, err := s.meta.ListUnscanned(ctx, after, sweepBatch)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			select {
			case s.queue.jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(jobs) < sweepBatch {
			return nil
		}
		after = jobs[len(jobs)-1].Seq
	}
}

// runScanWorkers runs the workers until ctx ends.
func (s *Service) runScanWorkers(ctx context.Context) {
	q := s.queue
	done := make(chan struct{})
	for range s.scan.Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-q.jobs:
					q.running.Add(1)
					err := s.scanStored(ctx, j)
					q.running.Add(-1)
					switch {
					case err == nil:
					case ctx.Err() != nil:
						return
					default:
						q.failed.Add(1)
						s.log.Warn("vault: background scan", "bucket", j.Bucket, "key", j.Key, "version", j.VersionID, "err", err)
					}
					if len(q.jobs) == 0 && q.resweep.Load() {
						select {
						case q.wake <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
	for range s.scan.Workers {
		<-done
	}
}

// errSkip marks a job that needs no scan.
var errSkip = errors.New("vault: scan not needed")

// scanStored scans one stored version and records its labels, unless the
// version has been replaced or scanned meanwhile.
func (s *Service) scanStored(ctx context.Context, j meta.ScanJob) error {
	err := s.scanStoredErr(ctx, j)
	if errors.Is(err, errSkip) || errors.Is(err, ErrNoSuchKey) || errors.Is(err, ErrNoSuchBucket) || errors.Is(err, meta.ErrConflict) {
		return nil
	}
	return err
}

func (s *Service) scanStoredErr(ctx context.Context, j meta.ScanJob) error {
	cur, err := s.meta.GetObjectScan(ctx, j.Bucket, j.Key)
	if err != nil {
		return metaErr("scan", err)
	}
	if cur.VersionID != j.VersionID || !cur.Scanned.IsZero() {
		return errSkip
	}
	r, err := s.OpenObject(ctx, j.Bucket, j.Key)
	if err != nil {
		return err
	}
	defer r.Close()
	if r.obj.VersionID != j.VersionID {
		return errSkip
	}
	var pace *pacer
	if s.scan.BackgroundRate > 0 {
		pace = &s.queue.pace
	}
	sc, err := s.scanReader(ctx, r, nil, pace, s.scan.BackgroundRate)
	if err != nil {
		return err
	}
	if err := s.meta.SetObjectScan(ctx, j.Bucket, j.Key, meta.ObjectScan{VersionID: j.VersionID, Scanned: sc.Scanned, Labels: sc.Labels}); err != nil {
		return fmt.Errorf("record scan of %s/%s: %w", j.Bucket, j.Key, err)
	}
	s.queue.done.Add(1)
	s.notifyLabels(ctx, j.Bucket, j.Key, j.VersionID, sc)
	return nil
}

// scanReader scans the whole of an open version through the gate g (nil:
// none) and returns its scan record. A pacer (nil: none) holds the reading
// to rate bytes/s, so that background scans leave the CPU to requests.
func (s *Service) scanReader(ctx context.Context, r *Reader, g *gate, pace *pacer, rate int64) (*meta.ObjectScan, error) {
	body, err := r.Range(ctx, 0, r.obj.Size)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	ss := s.newStreamScanner(g, 0)
	defer ss.release()
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if pace != nil {
			if d := pace.delay(time.Now()); d > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(d):
				}
			}
		}
		n, rerr := fill(body, *bp)
		if pace != nil {
			pace.charge(time.Now(), n, rate)
		}
		if n > 0 {
			if _, err := ss.Write((*bp)[:n]); err != nil {
				return nil, err
			}
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, rerr
		}
		if rerr != nil || n < len(*bp) {
			break
		}
	}
	if err := ss.Close(); err != nil {
		return nil, err
	}
	return ss.result(s.clock()), nil
}
