package audit

// Collecting witness cosignatures (the client side of C2SP tlog-witness).
// After the integrator signs a checkpoint, one goroutine per configured
// witness submits the latest checkpoint with a consistency proof from the
// size that witness last cosigned, checks the returned cosignature with the
// witness's key and stores it in cosignatures/<seq>; the published
// checkpoint file carries the cosignatures of the latest checkpoint as
// extra signature lines. This runs beside the log, never in front of it: a
// witness that is down or refuses only shows in WitnessStatus and is
// retried with backoff, and Append never waits for it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxWitnesses bounds the witnesses of a log (a note carries at most 100
// signatures).
const maxWitnesses = 32

// WitnessConfig names a witness a Log asks for cosignatures.
type WitnessConfig struct {
	// Name labels the witness in status and logs. Default: the key name.
	Name string
	// URL is the witness's submission prefix; checkpoints are posted to
	// URL + "/add-checkpoint" (e.g. "https://w.example.com/witness").
	URL string
	// VerifierKey is the witness's cosignature/v1 verifier key
	// (`coffer audit witness-pubkey` on the witness host).
	VerifierKey string
}

// WitnessState is what a Log knows of one witness.
type WitnessState struct {
	Name string
	URL  string
	// CosignedSeq and CosignedSize identify the latest checkpoint this
	// witness cosigned for this process (0 if none yet).
	CosignedSeq  int64
	CosignedSize int64
	LastSuccess  time.Time
	LastAttempt  time.Time
	// LastError is the last failure, "" after a success.
	LastError string
	// Failures counts consecutive failed attempts.
	Failures int
}

// WitnessStatus is the state of cosignature collection.
type WitnessStatus struct {
	LatestSeq  int64 // the latest checkpoint
	LatestSize int64
	Cosigned   int // witnesses that cosigned the latest checkpoint
	Quorum     int
	QuorumMet  bool
	Witnesses  []WitnessState
}

// ErrNoQuorum is returned by SyncWitnesses when fewer than WitnessQuorum
// witnesses cosigned the latest checkpoint.
var ErrNoQuorum = errors.New("audit: witness quorum not met")

type cosigner struct {
	l       *Log
	client  *http.Client
	retry   time.Duration
	timeout time.Duration
	quorum  int
	ws      []*witnessClient
	stop    chan struct{} // closed by Close after the final checkpoint
	wg      sync.WaitGroup
}

type witnessClient struct {
	cfg      WitnessConfig
	verifier note.Verifier
	wake     chan struct{}   // a new checkpoint (cap 1)
	kick     chan chan error // SyncWitnesses

	mu    sync.Mutex
	state WitnessState
	size  int64 // the size the witness is believed to have cosigned (hint)
}

func newCosigner(l *Log) (*cosigner, error) {
	o := &l.opts
	if len(o.Witnesses) == 0 {
		return nil, nil
	}
	if len(o.Witnesses) > maxWitnesses {
		return nil, fmt.Errorf("audit: at most %d witnesses", maxWitnesses)
	}
	c := &cosigner{
		l:       l,
		client:  o.WitnessHTTPClient,
		retry:   o.WitnessRetry,
		timeout: o.WitnessTimeout,
		quorum:  o.WitnessQuorum,
		stop:    make(chan struct{}),
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: time.Minute}
	}
	if c.retry <= 0 {
		c.retry = 5 * time.Second
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.quorum <= 0 || c.quorum > len(o.Witnesses) {
		c.quorum = len(o.Witnesses)
	}
	seen := make(map[string]bool)
	for _, cfg := range o.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(cfg.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("audit: witness key %q: %w", cfg.VerifierKey, err)
		}
		if seen[v.Name()] {
			return nil, fmt.Errorf("audit: witness %q configured twice", v.Name())
		}
		seen[v.Name()] = true
		if cfg.Name == "" {
			cfg.Name = v.Name()
		}
		if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
			return nil, fmt.Errorf("audit: witness %q: URL must be http(s)", cfg.Name)
		}
		cfg.URL = strings.TrimSuffix(cfg.URL, "/")
		w := &witnessClient{
			cfg:      cfg,
			verifier: v,
			wake:     make(chan struct{}, 1),
			kick:     make(chan chan error),
			state:    WitnessState{Name: cfg.Name, URL: cfg.URL},
		}
		c.ws = append(c.ws, w)
	}
	return c, nil
}

func (c *cosigner) start() {
	// Checkpoints cosigned before a restart count: read them back so that
	// status is right and nothing is submitted twice.
	seq, msg := c.l.latestCheckpoint()
	if msg != nil {
		for _, line := range readCosignatures(c.l.dir, seq) {
			for _, w := range c.ws {
				if verifyCosignatureLine(msg, line, w.verifier) == nil {
					if ck, err := OpenCheckpoint(msg, c.l.vkey); err == nil {
						w.state.CosignedSeq, w.state.CosignedSize, w.size = seq, ck.Tree.N, ck.Tree.N
					}
				}
			}
		}
	}
	for _, w := range c.ws {
		c.wg.Add(1)
		go c.run(w)
		select {
		case w.wake <- struct{}{}:
		default: // a checkpoint issued by recovery already woke it
		}
	}
}

// notify tells every witness goroutine about a new checkpoint.
func (c *cosigner) notify() {
	for _, w := range c.ws {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// close makes one last attempt to have the final checkpoint cosigned (each
// bounded by WitnessTimeout) and stops the goroutines.
func (c *cosigner) close() {
	close(c.stop)
	c.wg.Wait()
}

func (c *cosigner) run(w *witnessClient) {
	defer c.wg.Done()
	var timer *time.Timer
	var timerC <-chan time.Time
	for {
		var reply chan error
		final := false
		select {
		case <-w.wake:
			w.mu.Lock()
			backingOff := w.state.Failures > 0
			w.mu.Unlock()
			if backingOff {
				continue // the retry timer is running
			}
		case <-timerC:
			timerC = nil
		case reply = <-w.kick:
		case <-c.stop:
			final = true
		}
		err := c.attempt(w)
		if reply != nil {
			reply <- err
		}
		if final {
			if timer != nil {
				timer.Stop()
			}
			return
		}
		w.mu.Lock()
		failures := w.state.Failures
		w.mu.Unlock()
		if failures > 0 && timerC == nil {
			d := min(c.retry<<min(failures-1, 10), 5*time.Minute)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timerC = timer.C
		}
	}
}

// attempt submits the latest checkpoint to w unless w already cosigned it.
func (c *cosigner) attempt(w *witnessClient) error {
	seq, msg := c.l.latestCheckpoint()
	if msg == nil {
		return nil
	}
	w.mu.Lock()
	done := w.state.CosignedSeq == seq
	w.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	size, line, err := c.submit(ctx, w, msg)
	if err == nil {
		err = c.l.storeCosignature(seq, msg, line)
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state.LastAttempt = now
	if err != nil {
		w.state.Failures++
		w.state.LastError = err.Error()
		c.l.opts.Logger.Warn("audit ledger: witness did not cosign", "witness", w.cfg.Name, "seq", seq, "err", err)
		return fmt.Errorf("witness %s: %w", w.cfg.Name, err)
	}
	w.size = size
	w.state.CosignedSeq, w.state.CosignedSize = seq, size
	w.state.LastSuccess, w.state.LastError, w.state.Failures = now, "", 0
	return nil
}

// submit runs the add-checkpoint exchange for msg, starting from the size
// w is believed to have cosigned and following a 409 to the size it
// reports. It returns the checkpoint's size and the verified cosignature.
func (c *cosigner) submit(ctx context.Context, w *witnessClient, msg []byte) (int64, []byte, error) {
	ck, err := OpenCheckpoint(msg, c.l.vkey)
	if err != nil {
		return 0, nil, err
	}
	w.mu.Lock()
	old := w.size
	w.mu.Unlock()
	tried := make(map[int64]bool)
	for range 3 {
		tried[old] = true
		if old > ck.Tree.N {
			return 0, nil, fmt.Errorf("witness has cosigned size %d, larger than this log's latest checkpoint (%d): the log was rolled back or forked", old, ck.Tree.N)
		}
		var proof tlog.TreeProof
		if old > 0 && old < ck.Tree.N {
			p, err := Consistency(ctx, c.l.dir, c.l.vkey, old, ck.Tree.N)
			if err != nil {
				return 0, nil, err
			}
			proof = p.Proof
		}
		status, body, err := c.post(ctx, w, formatAddCheckpoint(old, proof, msg))
		if err != nil {
			return 0, nil, err
		}
		switch status {
		case http.StatusOK:
			line, err := pickCosignature(msg, body, w.verifier)
			if err != nil {
				return 0, nil, err
			}
			return ck.Tree.N, line, nil
		case http.StatusConflict:
			s := strings.TrimSuffix(string(body), "\n")
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
				return 0, nil, errors.New("409 Conflict with a malformed size")
			}
			w.mu.Lock()
			w.size = n
			w.mu.Unlock()
			if tried[n] {
				return 0, nil, fmt.Errorf("409 Conflict at size %d: the witness holds a different tree of that size (fork)", n)
			}
			old = n
		default:
			return 0, nil, fmt.Errorf("HTTP %d: %s", status, firstLine(body))
		}
	}
	return 0, nil, errors.New("witness keeps reporting a different size")
}

func (c *cosigner) post(ctx context.Context, w *witnessClient, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

// pickCosignature returns the line of the witness's response that is a
// valid cosignature of msg by v. Lines by other keys are ignored; an
// invalid one by v is an error.
func pickCosignature(msg, body []byte, v note.Verifier) ([]byte, error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return nil, errors.New("malformed cosignature response")
	}
	var found []byte
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		err := verifyCosignatureLine(msg, line, v)
		var une *note.UnverifiedNoteError
		switch {
		case errors.As(err, &une):
			continue // another key of the witness, or another cosigner
		case err != nil:
			return nil, fmt.Errorf("bad cosignature: %w", err)
		case found == nil:
			found = line
		}
	}
	if found == nil {
		return nil, errors.New("no cosignature by the configured witness key")
	}
	return found, nil
}

// verifyCosignatureLine checks that line (a note signature line ending in
// a newline) is a valid signature of the text of the signed note msg by one
// of verifiers. A line by an unknown key yields *note.UnverifiedNoteError.
func verifyCosignatureLine(msg, line []byte, verifiers ...note.Verifier) error {
	text, ok := noteText(msg)
	if !ok {
		return errors.New("malformed checkpoint note")
	}
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		return errors.New("malformed signature line")
	}
	buf := make([]byte, 0, len(text)+1+len(line))
	buf = append(append(append(buf, text...), '\n'), line...)
	_, err := note.Open(buf, note.VerifierList(verifiers...))
	return err
}

// noteText returns the text of a signed note (up to and including the
// newline before the blank line).
func noteText(msg []byte) ([]byte, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, false
	}
	return msg[:i+1], true
}

// readCosignatures returns the stored cosignature lines of checkpoint seq.
func readCosignatures(dir string, seq int64) [][]byte {
	b, err := fsutil.ReadFile(filepath.Join(dir, "cosignatures", segmentName(seq)), maxCosignatureFile)
	if err != nil {
		return nil
	}
	return splitLines(b)
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// publishedCheckpoint is the content of <dir>/checkpoint for checkpoint
// seq: the signed note followed by its stored cosignatures.
func publishedCheckpoint(dir string, seq int64, msg []byte) []byte {
	out := clone(msg)
	for _, line := range readCosignatures(dir, seq) {
		out = append(out, line...)
	}
	return out
}

// storeCosignature adds line, a verified cosignature of checkpoint seq
// (msg), to cosignatures/<seq> (replacing an older one by the same key),
// fsynced, and republishes the checkpoint file if seq is still the latest.
func (l *Log) storeCosignature(seq int64, msg, line []byte) error {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	var kept []byte
	for _, old := range readCosignatures(l.dir, seq) {
		if sameKey(old, line) {
			continue
		}
		kept = append(kept, old...)
	}
	kept = append(kept, line...)
	path := filepath.Join(l.dir, "cosignatures", segmentName(seq))
	if err := fsutil.WriteFile(path, kept, 0o644, false); err != nil {
		return fmt.Errorf("store cosignature: %w", err)
	}
	if cur, _ := l.latestCheckpoint(); cur == seq {
		if err := fsutil.WriteFile(filepath.Join(l.dir, "checkpoint"), append(clone(msg), kept...), 0o644, false); err != nil {
			return fmt.Errorf("publish cosigned checkpoint: %w", err)
		}
	}
	return nil
}

// sameKey reports whether two signature lines carry the same key name and
// key hash.
func sameKey(a, b []byte) bool {
	ka, oka := lineKey(a)
	kb, okb := lineKey(b)
	return oka && okb && ka == kb
}

func lineKey(line []byte) (string, bool) {
	s := strings.TrimSuffix(string(line), "\n")
	s, ok := strings.CutPrefix(s, "— ")
	if !ok {
		return "", false
	}
	name, b64, ok := strings.Cut(s, " ")
	sig, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(sig) < 4 {
		return "", false
	}
	return name + " " + string(sig[:4]), true
}

// latestCheckpoint returns the sequence number and bytes of the latest
// signed checkpoint (nil if none).
func (l *Log) latestCheckpoint() (int64, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq, l.lastCkpt
}

// CosignedCheckpoint returns the latest checkpoint with the witness
// cosignatures collected for it so far (the content of the published
// checkpoint file), or nil if none yet.
func (l *Log) CosignedCheckpoint() []byte {
	seq, msg := l.latestCheckpoint()
	if msg == nil {
		return nil
	}
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	return publishedCheckpoint(l.dir, seq, msg)
}

// WitnessStatus reports cosignature collection. With no witnesses
// configured it is the zero value.
func (l *Log) WitnessStatus() WitnessStatus {
	if l.cos == nil {
		return WitnessStatus{}
	}
	seq, msg := l.latestCheckpoint()
	st := WitnessStatus{LatestSeq: seq, Quorum: l.cos.quorum}
	if ck, err := OpenCheckpoint(msg, l.vkey); err == nil {
		st.LatestSize = ck.Tree.N
	}
	for _, w := range l.cos.ws {
		w.mu.Lock()
		s := w.state
		w.mu.Unlock()
		if msg != nil && s.CosignedSeq == seq {
			st.Cosigned++
		}
		st.Witnesses = append(st.Witnesses, s)
	}
	st.QuorumMet = msg != nil && st.Cosigned >= st.Quorum
	return st
}

// SyncWitnesses asks every witness to cosign the latest checkpoint now
// (each attempt bounded by WitnessTimeout) and waits for the answers. It
// returns nil if at least WitnessQuorum witnesses have cosigned it, and
// otherwise an error wrapping ErrNoQuorum and the witnesses' failures.
// Call Publish first to cover every entry appended so far.
func (l *Log) SyncWitnesses(ctx context.Context) error {
	if l.cos == nil {
		return nil
	}
	replies := make([]chan error, len(l.cos.ws))
	for i, w := range l.cos.ws {
		replies[i] = make(chan error, 1)
		select {
		case w.kick <- replies[i]:
		case <-l.cos.stop:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var errs []error
	for _, r := range replies {
		select {
		case err := <-r:
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	st := l.WitnessStatus()
	if st.QuorumMet {
		return nil
	}
	return fmt.Errorf("%w (%d of %d): %w", ErrNoQuorum, st.Cosigned, st.Quorum, errors.Join(errs...))
}

// ensureCosignaturesDir creates <dir>/cosignatures.
func ensureCosignaturesDir(dir string) error {
	err := os.Mkdir(filepath.Join(dir, "cosignatures"), 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
