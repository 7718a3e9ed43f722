// Command ledgerbench compares Coffer's audit ledger (internal/audit) with
// Tessera's POSIX driver (github.com/transparency-dev/tessera/storage/posix)
// on the same machine, in the same run, with the same event payloads, and
// prints a table of ratios. It lives in its own Go module so that Tessera
// never enters Coffer's go.mod; bench/ledger.sh runs it.
//
// Rows:
//
//   - writers=W (W = 1, 16, 256): W goroutines each append one event and
//     wait until it is durable, over and over, until -n events are in or
//     -max-time has passed. Coffer: Log.Append returns (the entry and its
//     sealed payload are fsynced). Tessera: the IndexFuture of Appender.Add
//     resolves (the POSIX driver has written and fsynced the entry bundle,
//     the tiles and the tree state). Reported: appends/s, p50/p99 latency
//     of one append, the delay from the call until a published checkpoint
//     covers the entry (p50/p99), and bytes on disk per event.
//   - pipeline: Tessera's reference configuration, one producer that
//     submits -ref-n entries without waiting (Add returns a future at
//     once), batches of 256 flushed at least every 10 ms. Coffer's Append
//     is synchronous, so its pipeline is a producer that starts one
//     goroutine per event with at most -pipeline-depth (768) in flight,
//     about what Tessera's queue holds (a batch filling, one waiting, one
//     being written) before Add blocks the producer.
//   - verify: Coffer builds a -verify-n entry ledger (durable appends, 256
//     writers) and times audit.Verify over it, without and with opening
//     every sealed payload.
//
// Tessera runs with batches of -batch entries or -batch-age (256, 10 ms),
// both logs sign a checkpoint every -checkpoint-interval (1 s, Coffer's
// default and the longest its contract allows), and the checkpoint of each
// is polled every -poll (5 ms) by the same code.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/coffer-vault/coffer/internal/audit"
)

type config struct {
	dir          string
	n            int
	maxTime      time.Duration
	writers      []int
	refN         int
	depth        int
	verifyN      int
	batch        uint
	batchAge     time.Duration
	ckptInterval time.Duration
	poll         time.Duration
	repeat       int
	skipTessera  bool
	skipVerify   bool
	jsonOut      string
}

func main() {
	var cfg config
	var writers string
	flag.StringVar(&cfg.dir, "dir", "", "directory for the ledgers (default: a new temporary directory, removed at the end)")
	flag.IntVar(&cfg.n, "n", 20000, "events per writers=W row")
	flag.DurationVar(&cfg.maxTime, "max-time", 20*time.Second, "time limit per writers=W row (the row reports what got in)")
	flag.StringVar(&writers, "writers", "1,16,256", "concurrent writers per row, comma-separated")
	flag.IntVar(&cfg.refN, "ref-n", 100000, "entries in the pipeline row (0: skip)")
	flag.IntVar(&cfg.depth, "pipeline-depth", 768, "Coffer's pipeline: events in flight at most (Tessera's queue holds at most 3 batches: one filling, one waiting, one being written)")
	flag.IntVar(&cfg.verifyN, "verify-n", 1000000, "entries of the ledger Verify is timed on (0: skip)")
	flag.UintVar(&cfg.batch, "batch", 256, "Tessera batch size")
	flag.DurationVar(&cfg.batchAge, "batch-age", 10*time.Millisecond, "Tessera batch max age")
	flag.DurationVar(&cfg.ckptInterval, "checkpoint-interval", time.Second, "checkpoint interval of both logs")
	flag.DurationVar(&cfg.poll, "poll", 5*time.Millisecond, "how often the checkpoint is polled")
	flag.IntVar(&cfg.repeat, "repeat", 1, "runs of every writers and pipeline row, each system in turn; the table shows medians")
	flag.BoolVar(&cfg.skipTessera, "skip-tessera", false, "run Coffer alone")
	flag.BoolVar(&cfg.skipVerify, "skip-verify", false, "skip the verify row")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write the results as JSON lines to this file")
	flag.Parse()
	for _, w := range strings.Split(writers, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || v < 1 {
			fatalf("bad -writers %q", writers)
		}
		cfg.writers = append(cfg.writers, v)
	}
	if cfg.skipVerify {
		cfg.verifyN = 0
	}
	if err := run(context.Background(), cfg); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "ledgerbench: "+format+"\n", a...)
	os.Exit(1)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[ledger %s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// result is one measured row of one system.
type result struct {
	System      string  `json:"system"`
	Row         string  `json:"row"`
	Rep         int     `json:"rep"`
	Writers     int     `json:"writers,omitempty"`
	Events      int     `json:"events"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"appends_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	CkptP50ms   float64 `json:"checkpoint_p50_ms"`
	CkptP99ms   float64 `json:"checkpoint_p99_ms"`
	BytesPerEv  float64 `json:"bytes_per_event"`
	BytesAllPer float64 `json:"bytes_per_event_incl_garbage,omitempty"`
	Note        string  `json:"note,omitempty"`
}

func run(ctx context.Context, cfg config) error {
	root := cfg.dir
	if root == "" {
		d, err := os.MkdirTemp("", "coffer-ledgerbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		root = d
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	logf("ledgers under %s; GOMAXPROCS %d", root, runtime.GOMAXPROCS(0))
	var results []result
	add := func(r result) {
		results = append(results, r)
		b, _ := json.Marshal(r)
		logf("%s", b)
	}
	seq := 0
	newDir := func(name string) string {
		seq++
		return filepath.Join(root, fmt.Sprintf("%02d-%s", seq, name))
	}

	// Rows alternate between the systems, run after run, so that slow
	// drifts of a shared machine hit both alike.
	for rep := 1; rep <= max(cfg.repeat, 1); rep++ {
		addRep := func(r result) { r.Rep = rep; add(r) }
		for _, w := range cfg.writers {
			row := fmt.Sprintf("writers=%d", w)
			r, err := runWriters(ctx, cfg, "coffer", newDir("coffer"), w)
			if err != nil {
				return fmt.Errorf("coffer %s: %w", row, err)
			}
			addRep(r)
			if !cfg.skipTessera {
				r, err := runWriters(ctx, cfg, "tessera", newDir("tessera"), w)
				if err != nil {
					return fmt.Errorf("tessera %s: %w", row, err)
				}
				addRep(r)
			}
		}
		if cfg.refN > 0 {
			r, err := runPipeline(ctx, cfg, "coffer", newDir("coffer"))
			if err != nil {
				return fmt.Errorf("coffer pipeline: %w", err)
			}
			addRep(r)
			if !cfg.skipTessera {
				r, err := runPipeline(ctx, cfg, "tessera", newDir("tessera"))
				if err != nil {
					return fmt.Errorf("tessera pipeline: %w", err)
				}
				addRep(r)
			}
		}
	}
	if cfg.verifyN > 0 {
		rs, err := runVerify(ctx, cfg, newDir("coffer-verify"))
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for _, r := range rs {
			add(r)
		}
	}

	if cfg.jsonOut != "" {
		var b bytes.Buffer
		for _, r := range results {
			j, _ := json.Marshal(r)
			b.Write(append(j, '\n'))
		}
		if err := os.WriteFile(cfg.jsonOut, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	printTable(cfg, results)
	return nil
}

// event returns the i-th benchmark event: the shape of an S3 request
// record, a few hundred bytes once encoded, four data subjects.
func event(i int) audit.Event {
	users := []string{"alice", "bob", "carol", ""}
	return audit.Event{
		Time:      time.Date(2026, 11, 23, 12, 0, 0, i, time.UTC),
		RequestID: fmt.Sprintf("req-%016x", i),
		Actor: audit.Actor{User: users[i%len(users)], AccessKeyID: "AKIDBENCHMARK0000001", SourceIP: "192.0.2.1",
			UserAgent: "aws-sdk-go-v2/1.47.7", MFA: i%2 == 0},
		Action:   "s3:PutObject",
		Resource: audit.Resource{Bucket: "bench", Key: fmt.Sprintf("reports/2026/11/%d.json", i)},
		Outcome:  audit.Outcome{Result: audit.ResultAllowed},
		BytesIn:  int64(4096 + i%1000),
		Labels:   map[string]string{"class": "internal"},
	}
}

// target is one ledger under test.
type target interface {
	// add appends event i and returns its index once durable.
	add(ctx context.Context, i int) (int64, error)
	// submit starts appending event i and returns a function that waits
	// for its index (pipelining).
	submit(ctx context.Context, i int) func() (int64, error)
	// checkpointSize returns the size of the latest published checkpoint.
	checkpointSize(ctx context.Context) (int64, error)
	close(ctx context.Context) error
	dir() string
}

func open(ctx context.Context, cfg config, system, dir string) (target, error) {
	switch system {
	case "coffer":
		return openCoffer(ctx, cfg, dir)
	case "tessera":
		return openTessera(ctx, cfg, dir)
	}
	return nil, fmt.Errorf("unknown system %q", system)
}

// ---------------------------------------------------------------- Coffer

type cofferTarget struct {
	d string
	l *audit.Log
}

func openCoffer(ctx context.Context, cfg config, dir string) (*cofferTarget, error) {
	s, err := audit.NewDirSealer(dir + "-keys")
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(ctx, dir, audit.Options{Sealer: s, CheckpointInterval: cfg.ckptInterval})
	if err != nil {
		return nil, err
	}
	return &cofferTarget{d: dir, l: l}, nil
}

func (c *cofferTarget) add(ctx context.Context, i int) (int64, error) {
	return c.l.Append(ctx, event(i))
}

func (c *cofferTarget) submit(ctx context.Context, i int) func() (int64, error) {
	type res struct {
		idx int64
		err error
	}
	ch := make(chan res, 1)
	go func() {
		idx, err := c.l.Append(ctx, event(i))
		ch <- res{idx, err}
	}()
	return func() (int64, error) { r := <-ch; return r.idx, r.err }
}

func (c *cofferTarget) checkpointSize(context.Context) (int64, error) {
	cp := c.l.Checkpoint()
	if cp == nil {
		return 0, nil
	}
	return noteSize(cp)
}

func (c *cofferTarget) close(context.Context) error { return c.l.Close() }
func (c *cofferTarget) dir() string                 { return c.d }

// ---------------------------------------------------------------- Tessera

type tesseraTarget struct {
	d        string
	cancel   context.CancelFunc
	app      *tessera.Appender
	reader   tessera.LogReader
	shutdown func(context.Context) error
}

func openTessera(ctx context.Context, cfg config, dir string) (*tesseraTarget, error) {
	skey, _, err := note.GenerateKey(rand.Reader, "bench/tessera")
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	drv, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		cancel()
		return nil, err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.batch, cfg.batchAge).
		WithCheckpointInterval(cfg.ckptInterval)
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	return &tesseraTarget{d: dir, cancel: cancel, app: app, reader: reader, shutdown: shutdown}, nil
}

func (t *tesseraTarget) data(i int) []byte {
	ev := event(i)
	b, err := ev.Encode()
	if err != nil {
		panic(err) // the benchmark's own events always encode
	}
	return b
}

func (t *tesseraTarget) add(ctx context.Context, i int) (int64, error) {
	return t.submit(ctx, i)()
}

func (t *tesseraTarget) submit(ctx context.Context, i int) func() (int64, error) {
	f := t.app.Add(ctx, tessera.NewEntry(t.data(i)))
	return func() (int64, error) {
		idx, err := f()
		return int64(idx.Index), err
	}
}

func (t *tesseraTarget) checkpointSize(ctx context.Context) (int64, error) {
	cp, err := t.reader.ReadCheckpoint(ctx)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(cp) == 0) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return noteSize(cp)
}

func (t *tesseraTarget) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := t.shutdown(ctx)
	t.cancel()
	return err
}
func (t *tesseraTarget) dir() string { return t.d }

// noteSize returns the tree size of a C2SP checkpoint (origin, size, root
// hash, then signatures); both logs publish that format.
func noteSize(cp []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(cp))
	for i := 0; sc.Scan(); i++ {
		if i == 1 {
			return strconv.ParseInt(sc.Text(), 10, 64)
		}
	}
	return 0, fmt.Errorf("checkpoint too short: %q", cp)
}

// ---------------------------------------------------------------- checkpoints

// ckptWatch polls a target's checkpoint and records when each size was
// first seen.
type ckptWatch struct {
	mu    sync.Mutex
	times []time.Time
	sizes []int64
	err   error
	stop  chan struct{}
	done  chan struct{}
}

func watch(ctx context.Context, t target, every time.Duration) *ckptWatch {
	w := &ckptWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var last int64
		for {
			n, err := t.checkpointSize(ctx)
			now := time.Now()
			w.mu.Lock()
			if err != nil && w.err == nil {
				w.err = err
			}
			if n > last {
				last = n
				w.times = append(w.times, now)
				w.sizes = append(w.sizes, n)
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// waitFor waits until a checkpoint covers n entries, or timeout.
func (w *ckptWatch) waitFor(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		ok := len(w.sizes) > 0 && w.sizes[len(w.sizes)-1] >= n
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("no checkpoint covers %d entries after %v", n, timeout)
}

func (w *ckptWatch) halt() {
	close(w.stop)
	<-w.done
}

// coveredAt returns when a checkpoint first covered index idx.
func (w *ckptWatch) coveredAt(idx int64) (time.Time, bool) {
	k, _ := slices.BinarySearch(w.sizes, idx+1)
	if k == len(w.sizes) {
		return time.Time{}, false
	}
	return w.times[k], true
}

// ---------------------------------------------------------------- rows

type sample struct {
	idx   int64
	start time.Time
	lat   time.Duration
}

func runWriters(ctx context.Context, cfg config, system, dir string, writers int) (result, error) {
	logf("%s writers=%d: up to %d events or %v", system, writers, cfg.n, cfg.maxTime)
	t, err := open(ctx, cfg, system, dir)
	if err != nil {
		return result{}, err
	}
	w := watch(ctx, t, cfg.poll)
	var (
		next    atomic.Int64
		errs    atomic.Int64
		firstEr atomic.Pointer[error]
		wg      sync.WaitGroup
	)
	per := make([][]sample, writers)
	start := time.Now()
	deadline := start.Add(cfg.maxTime)
	for k := range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.n) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				idx, err := t.add(ctx, int(i))
				if err != nil {
					errs.Add(1)
					firstEr.CompareAndSwap(nil, &err)
					continue
				}
				per[k] = append(per[k], sample{idx, t0, time.Since(t0)})
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	all := slices.Concat(per...)
	r := result{System: system, Row: fmt.Sprintf("writers=%d", writers), Writers: writers, Events: len(all),
		Errors: int(errs.Load()), Seconds: el.Seconds(), PerSec: float64(len(all)) / el.Seconds()}
	if e := firstEr.Load(); e != nil {
		r.Note = "first error: " + (*e).Error()
	}
	if err := finish(ctx, cfg, t, w, all, &r); err != nil {
		return r, err
	}
	return r, nil
}

// finish waits for a checkpoint covering every sample, closes the target
// and fills in the latency, checkpoint delay and size fields.
func finish(ctx context.Context, cfg config, t target, w *ckptWatch, all []sample, r *result) error {
	var maxIdx int64 = -1
	for _, s := range all {
		maxIdx = max(maxIdx, s.idx)
	}
	werr := w.waitFor(maxIdx+1, 4*cfg.ckptInterval+30*time.Second)
	w.halt()
	if err := t.close(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if werr != nil {
		return werr
	}
	lat := make([]time.Duration, 0, len(all))
	ck := make([]time.Duration, 0, len(all))
	for _, s := range all {
		lat = append(lat, s.lat)
		if at, ok := w.coveredAt(s.idx); ok {
			ck = append(ck, at.Sub(s.start))
		}
	}
	r.P50ms, r.P99ms = pct(lat, 50), pct(lat, 99)
	r.CkptP50ms, r.CkptP99ms = pct(ck, 50), pct(ck, 99)
	live, garbage, err := diskBytes(t.dir())
	if err != nil {
		return err
	}
	if r.Events > 0 {
		r.BytesPerEv = float64(live) / float64(r.Events)
		if garbage > 0 {
			r.BytesAllPer = float64(live+garbage) / float64(r.Events)
		}
	}
	return nil
}

func runPipeline(ctx context.Context, cfg config, system, dir string) (result, error) {
	logf("%s pipeline: %d entries", system, cfg.refN)
	t, err := open(ctx, cfg, system, dir)
	if err != nil {
		return result{}, err
	}
	w := watch(ctx, t, cfg.poll)
	type pending struct {
		start time.Time
		wait  func() (int64, error)
	}
	futures := make(chan pending, cfg.refN)
	all := make([]sample, 0, cfg.refN)
	var errs int
	var firstErr error
	resolved := make(chan struct{})
	// The resolver waits for the futures in order, as they were submitted;
	// both logs complete them in order, so each is timed as it resolves.
	go func() {
		defer close(resolved)
		for p := range futures {
			idx, err := p.wait()
			if err != nil {
				errs++
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			all = append(all, sample{idx, p.start, time.Since(p.start)})
		}
	}()
	var sem chan struct{}
	if system == "coffer" {
		sem = make(chan struct{}, cfg.depth)
	}
	start := time.Now()
	for i := range cfg.refN {
		t0 := time.Now()
		if sem != nil {
			sem <- struct{}{}
			f := t.submit(ctx, i)
			futures <- pending{t0, func() (int64, error) { defer func() { <-sem }(); return f() }}
			continue
		}
		futures <- pending{t0, t.submit(ctx, i)}
	}
	close(futures)
	<-resolved
	el := time.Since(start)
	row := "pipeline"
	r := result{System: system, Row: row, Events: len(all), Errors: errs, Seconds: el.Seconds(), PerSec: float64(len(all)) / el.Seconds()}
	if firstErr != nil {
		r.Note = "first error: " + firstErr.Error()
	}
	if err := finish(ctx, cfg, t, w, all, &r); err != nil {
		return r, err
	}
	return r, nil
}

// runVerify builds a Coffer ledger of cfg.verifyN durable entries with 256
// writers and times Verify over it, without and with the payloads.
func runVerify(ctx context.Context, cfg config, dir string) ([]result, error) {
	logf("coffer verify: building %d entries (durable appends, 256 writers)", cfg.verifyN)
	keys := dir + "-keys"
	s, err := audit.NewDirSealer(keys)
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(ctx, dir, audit.Options{Sealer: s, CheckpointInterval: cfg.ckptInterval})
	if err != nil {
		return nil, err
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		ferr atomic.Pointer[error]
	)
	start := time.Now()
	for range 256 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.verifyN) || ferr.Load() != nil {
					return
				}
				if _, err := l.Append(ctx, event(int(i))); err != nil {
					ferr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	build := time.Since(start)
	if cerr := l.Close(); cerr != nil {
		return nil, cerr
	}
	if e := ferr.Load(); e != nil {
		return nil, *e
	}
	live, _, err := diskBytes(dir)
	if err != nil {
		return nil, err
	}
	out := []result{{System: "coffer", Row: "build", Writers: 256, Events: cfg.verifyN, Seconds: build.Seconds(),
		PerSec: float64(cfg.verifyN) / build.Seconds(), BytesPerEv: float64(live) / float64(cfg.verifyN)}}
	for _, payloads := range []bool{false, true} {
		opts := audit.VerifyOptions{}
		row := "verify"
		if payloads {
			opts.Sealer = s
			row = "verify+payloads"
		}
		logf("coffer %s of %d entries", row, cfg.verifyN)
		t0 := time.Now()
		rep, err := audit.Verify(ctx, dir, opts)
		el := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if rep.Size != int64(cfg.verifyN) {
			return nil, fmt.Errorf("verify: size %d, want %d", rep.Size, cfg.verifyN)
		}
		out = append(out, result{System: "coffer", Row: row, Events: int(rep.Size), Seconds: el.Seconds(),
			PerSec: float64(rep.Size) / el.Seconds(),
			Note:   fmt.Sprintf("checkpoints %d, tiles %d, payloads %d", rep.Checkpoints, rep.TilesChecked, rep.PayloadsChecked)})
	}
	return out, nil
}

// ---------------------------------------------------------------- helpers

// pct returns the p-th percentile (nearest rank) in milliseconds.
func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	k := (len(s)*p + 99) / 100
	k = min(max(k-1, 0), len(s)-1)
	return float64(s[k].Microseconds()) / 1000
}

// diskBytes returns the bytes of the regular files under dir: live, and
// garbage (Tessera's partial tiles and bundles, the ".p" directories,
// which its garbage collector removes once the full ones exist).
func diskBytes(dir string) (live, garbage int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if strings.Contains(p, ".p"+string(filepath.Separator)) {
			garbage += fi.Size()
		} else {
			live += fi.Size()
		}
		return nil
	})
	return live, garbage, err
}

func printTable(cfg config, rs []result) {
	// get returns the median of every figure over the runs of a row.
	get := func(system, row string) *result {
		var runs []result
		for _, r := range rs {
			if r.System == system && r.Row == row {
				runs = append(runs, r)
			}
		}
		if len(runs) == 0 {
			return nil
		}
		med := func(field func(*result) float64) float64 {
			v := make([]float64, len(runs))
			for i := range runs {
				v[i] = field(&runs[i])
			}
			slices.Sort(v)
			return v[(len(v)-1)/2]
		}
		m := runs[0]
		m.PerSec = med(func(r *result) float64 { return r.PerSec })
		m.P50ms = med(func(r *result) float64 { return r.P50ms })
		m.P99ms = med(func(r *result) float64 { return r.P99ms })
		m.CkptP50ms = med(func(r *result) float64 { return r.CkptP50ms })
		m.CkptP99ms = med(func(r *result) float64 { return r.CkptP99ms })
		m.BytesPerEv = med(func(r *result) float64 { return r.BytesPerEv })
		m.BytesAllPer = med(func(r *result) float64 { return r.BytesAllPer })
		m.Events = int(med(func(r *result) float64 { return float64(r.Events) }))
		m.Errors = 0
		for _, r := range runs {
			m.Errors += r.Errors
		}
		return &m
	}
	each := func(system, row string) string {
		var parts []string
		for _, r := range rs {
			if r.System == system && r.Row == row {
				parts = append(parts, strconv.FormatFloat(r.PerSec, 'f', 0, 64))
			}
		}
		return strings.Join(parts, " / ")
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return f(a/b, 2)
	}
	if cfg.repeat > 1 {
		fmt.Printf("Medians of %d runs per row (each system in turn).\n\n", cfg.repeat)
	}
	fmt.Println("| row | metric | Coffer | Tessera (POSIX) | Coffer/Tessera |")
	fmt.Println("| --- | --- | ---: | ---: | ---: |")
	rows := []string{}
	for _, w := range cfg.writers {
		rows = append(rows, fmt.Sprintf("writers=%d", w))
	}
	if cfg.refN > 0 {
		rows = append(rows, "pipeline")
	}
	for _, row := range rows {
		c, t := get("coffer", row), get("tessera", row)
		if c == nil {
			continue
		}
		desc := row
		if row == "pipeline" {
			desc = fmt.Sprintf("pipeline (%d entries)", cfg.refN)
		}
		line := func(metric string, cv, tv float64, prec int) {
			ts, rt := "n/a", "n/a"
			if t != nil {
				ts, rt = f(tv, prec), ratio(cv, tv)
			}
			fmt.Printf("| %s | %s | %s | %s | %s |\n", desc, metric, f(cv, prec), ts, rt)
		}
		var tv result
		if t != nil {
			tv = *t
		}
		line("appends/s", c.PerSec, tv.PerSec, 0)
		if cfg.repeat > 1 {
			fmt.Printf("| %s | appends/s, each run | %s | %s | |\n", desc, each("coffer", row), each("tessera", row))
		}
		line("append p50 ms", c.P50ms, tv.P50ms, 2)
		line("append p99 ms", c.P99ms, tv.P99ms, 2)
		line("to checkpoint p50 ms", c.CkptP50ms, tv.CkptP50ms, 0)
		line("to checkpoint p99 ms", c.CkptP99ms, tv.CkptP99ms, 0)
		line("bytes/event", c.BytesPerEv, tv.BytesPerEv, 0)
		if t != nil && t.BytesAllPer > 0 {
			call := func(r *result) float64 {
				if r.BytesAllPer > 0 {
					return r.BytesAllPer
				}
				return r.BytesPerEv
			}
			line("bytes/event incl. partial tiles and bundles", call(c), call(t), 0)
		}
		fmt.Printf("| %s | events (errors), median (all runs) | %d (%d) | %s | |\n", desc, c.Events, c.Errors, func() string {
			if t == nil {
				return "n/a"
			}
			return fmt.Sprintf("%d (%d)", t.Events, t.Errors)
		}())
	}
	if b := get("coffer", "build"); b != nil {
		fmt.Printf("| build %d entries (256 writers, durable) | appends/s | %s | | |\n", b.Events, f(b.PerSec, 0))
		fmt.Printf("| build %d entries | bytes/event | %s | | |\n", b.Events, f(b.BytesPerEv, 0))
	}
	for _, row := range []string{"verify", "verify+payloads"} {
		if v := get("coffer", row); v != nil {
			fmt.Printf("| %s %d entries | seconds (entries/s) | %s (%s) | | |\n", row, v.Events, f(v.Seconds, 2), f(v.PerSec, 0))
		}
	}
	for _, r := range rs {
		if r.Note != "" && r.Errors > 0 {
			fmt.Printf("\n%s %s: %s\n", r.System, r.Row, r.Note)
		}
	}
}
