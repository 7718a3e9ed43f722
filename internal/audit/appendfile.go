package audit

// Segment files are preallocated: a background goroutine keeps a run of
// zeros, written and fsynced, ahead of the data. Committing a batch then
// overwrites blocks that already exist inside the file's size, so
// fdatasync has no metadata to journal and costs one data write and one
// cache flush instead of a journal commit (which on ext4 also waits for
// every other file's pending data, such as freshly written tiles). On this
// project's test machine that cut the fsync p99 from about 5 ms to under
// 2 ms.
//
// Readers treat the zeros as the end of the segment (an all-zero leaf
// record, a payload record of length 0); recovery and Close cut them off.

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// segmentWriter is what an appendFile needs from a file (a seam for tests).
type segmentWriter interface {
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// appendFile appends to a preallocated segment file. Only the writer
// goroutine calls write, commit, undo and close.
type appendFile struct {
	w     segmentWriter
	off   int64 // committed end: everything before it is durable
	end   int64 // written end (>= off)
	chunk int64

	mu    sync.Mutex   // serialises extension and truncation
	alloc atomic.Int64 // zeros are written and fsynced up to here
	kick  chan struct{}
	quit  chan struct{}
	done  chan struct{}
}

func newAppendFile(w segmentWriter, size, chunk int64) *appendFile {
	f := &appendFile{w: w, off: size, end: size, chunk: chunk,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	f.alloc.Store(size)
	go f.allocator()
	f.kick <- struct{}{}
	return f
}

// allocator extends the file by a chunk whenever asked. It never reads
// the writer's fields.
func (f *appendFile) allocator() {
	defer close(f.done)
	for {
		select {
		case <-f.quit:
			return
		case <-f.kick:
		}
		// The writer asks when less than half a chunk is left. Errors
		// surface in write, which then extends synchronously.
		f.mu.Lock()
		f.extend(f.alloc.Load() + f.chunk)
		f.mu.Unlock()
	}
}

var zeros = make([]byte, 1<<20) // read-only

// extend writes zeros up to n and fsyncs; f.mu must be held.
func (f *appendFile) extend(n int64) error {
	for a := f.alloc.Load(); a < n; {
		k := min(int64(len(zeros)), n-a)
		if _, err := f.w.WriteAt(zeros[:k], a); err != nil {
			return err
		}
		a += k
	}
	if err := f.w.Sync(); err != nil {
		return err
	}
	f.alloc.Store(n)
	return nil
}

// write writes p after the data written so far.
func (f *appendFile) write(p []byte) error {
	need := f.end + int64(len(p))
	if need > f.alloc.Load() {
		f.mu.Lock()
		err := f.extend(need + f.chunk)
		f.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if _, err := f.w.WriteAt(p, f.end); err != nil {
		return err
	}
	f.end = need
	if f.alloc.Load()-need < f.chunk/2 {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// commit makes the written data durable.
func (f *appendFile) commit() error {
	if err := datasync(f.w); err != nil {
		return err
	}
	f.off = f.end
	return nil
}

// undo cuts uncommitted data off again (best effort; the log has failed).
func (f *appendFile) undo() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w.Truncate(f.off) == nil {
		f.w.Sync()
		f.alloc.Store(f.off)
	}
	f.end = f.off
}

// close stops the allocator, cuts the preallocated zeros and closes.
func (f *appendFile) close() error {
	close(f.quit)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.w.Truncate(f.end)
	if err == nil {
		err = f.w.Sync()
	}
	return errors.Join(err, f.w.Close())
}

// datasync is fdatasync for real files and Sync for test doubles.
func datasync(w segmentWriter) error {
	if f, ok := w.(*os.File); ok {
		return fdatasync(f)
	}
	return w.Sync()
}
