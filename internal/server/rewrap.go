package server

import (
	"context"
	"log/slog"
	"sync"
)

// rewrapBatch is how many DEKs one batch rewraps: large enough to amortise a
// metadata transaction, small enough that progress is visible and a stop
// loses little work (the job is resumable: it restarts from whatever still
// names an old KEK version).
const rewrapBatch = 256

// rewrapFunc is the vault's RewrapDEKs.
type rewrapFunc func(ctx context.Context, batch int, progress func(done int)) (int, error)

// rewrapper runs the background job that rewraps DEKs under the current KEK
// after a rotation (and at start, to resume an interrupted one).
type rewrapper struct {
	run    rewrapFunc
	log    *slog.Logger
	wake   chan struct{}
	mu     sync.Mutex
	status rewrapStatus
}

type rewrapStatus struct {
	Running bool   `json:"running"`
	Done    int    `json:"done"`
	Error   string `json:"error"`
}

func newRewrapper(run rewrapFunc, log *slog.Logger) *rewrapper {
	return &rewrapper{run: run, log: log, wake: make(chan struct{}, 1)}
}

// trigger asks the job to run (again); it never blocks. The status says
// "running" from this moment, so a client polling right after a rotation
// never mistakes the not-yet-started job for a finished one.
func (r *rewrapper) trigger() {
	r.mu.Lock()
	r.status.Running = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *rewrapper) snapshot() rewrapStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// loop runs until ctx ends.
func (r *rewrapper) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		r.status = rewrapStatus{Running: true}
		r.mu.Unlock()
		n, err := r.run(ctx, rewrapBatch, func(done int) {
			r.mu.Lock()
			r.status.Done = done
			r.mu.Unlock()
		})
		r.mu.Lock()
		r.status.Running = len(r.wake) > 0 // another run is already asked for
		r.status.Done = n
		if err != nil {
			r.status.Error = err.Error()
			r.log.Error("key rewrap stopped", "rewrapped", n, "err", err)
		} else if n > 0 {
			r.log.Info("key rewrap finished", "rewrapped", n)
		}
		r.mu.Unlock()
	}
}
