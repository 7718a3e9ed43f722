package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testWitness is a Witness served over a loopback httptest server.
type testWitness struct {
	dir string
	w   *Witness
	srv *httptest.Server
}

func newTestWitness(t *testing.T, dir, name string, logs ...WitnessedLog) *testWitness {
	t.Helper()
	return startTestWitness(t, false, dir, name, logs...)
}

func startTestWitness(t *testing.T, tls bool, dir, name string, logs ...WitnessedLog) *testWitness {
	t.Helper()
	w, err := NewWitness(dir, WitnessOptions{Name: name, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(WitnessAddCheckpointPath, w)
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	return &testWitness{dir: dir, w: w, srv: srv}
}

// config is how a Log is told about this witness.
func (tw *testWitness) config() WitnessConfig {
	return WitnessConfig{URL: tw.srv.URL + "/witness", VerifierKey: tw.w.PublicKey()}
}

func (tw *testWitness) post(t *testing.T, body []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(tw.srv.URL+WitnessAddCheckpointPath, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

// initLedgerKey opens and closes a ledger so that its key exists, and
// returns its verifier key.
func initLedgerKey(t *testing.T, tl testLedger, origin string) string {
	t.Helper()
	l := tl.open(t, Options{Origin: origin})
	vkey := l.PublicKey()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return vkey
}

func publishAndSync(t *testing.T, l *Log) error {
	t.Helper()
	if err := l.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l.SyncWitnesses(context.Background())
}

// Two ledgers whose witnesses cosign each other's checkpoints.
func TestWitnessMutualCosigning(t *testing.T) {
	la, lb := newTestLedger(t), newTestLedger(t)
	const oa, ob = "a.example/audit", "b.example/audit"
	ka, kb := initLedgerKey(t, la, oa), initLedgerKey(t, lb, ob)
	// Node A runs a witness for B's log and node B one for A's (over
	// TLS, with the client the Log is given).
	wa := newTestWitness(t, t.TempDir(), "a.example/witness", WitnessedLog{VerifierKey: kb})
	wb := startTestWitness(t, true, t.TempDir(), "b.example/witness", WitnessedLog{VerifierKey: ka})

	a := la.open(t, Options{Origin: oa, Witnesses: []WitnessConfig{wb.config()}, WitnessHTTPClient: wb.srv.Client()})
	b := lb.open(t, Options{Origin: ob, Witnesses: []WitnessConfig{wa.config()}})
	for round, n := range []int{100, 300, 1, 0} {
		for _, x := range []struct {
			l *Log
			w *testWitness
			o string
		}{{a, wb, oa}, {b, wa, ob}} {
			appendN(t, x.l, round*1000, n, 4)
			if err := publishAndSync(t, x.l); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			st := x.l.WitnessStatus()
			if !st.QuorumMet || st.Cosigned != 1 || st.LatestSize != x.l.Size() || st.Witnesses[0].CosignedSize != x.l.Size() || st.Witnesses[0].LastError != "" {
				t.Fatalf("round %d: status %+v, size %d", round, st, x.l.Size())
			}
			if c, ok := x.w.w.Latest(x.o); !ok || c.Tree.N != x.l.Size() {
				t.Fatalf("round %d: witness has %+v, log size %d", round, c, x.l.Size())
			}
		}
	}
	// The published checkpoint carries the cosignature: a tlog client
	// trusting the log key and the witness key sees both.
	lv, _ := note.NewVerifier(ka)
	wv, _ := fnote.NewVerifierForCosignatureV1(wb.w.PublicKey())
	n, err := note.Open(readFile(t, la.path("checkpoint")), note.VerifierList(lv, wv))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("published checkpoint: %v, %+v", err, n)
	}
	if !bytes.Equal(a.CosignedCheckpoint(), readFile(t, la.path("checkpoint"))) {
		t.Fatal("CosignedCheckpoint differs from the published file")
	}

	// Entries appended after the last Publish get their checkpoint at
	// Close, which makes a last attempt to have it cosigned.
	appendN(t, a, 9000, 7, 2)
	appendN(t, b, 9000, 7, 2)
	for _, l := range []*Log{a, b} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []struct {
		tl testLedger
		w  *testWitness
	}{{la, wb}, {lb, wa}} {
		rep, err := Verify(context.Background(), x.tl.dir, VerifyOptions{Sealer: x.tl.sealer, Witnesses: []string{x.w.w.PublicKey()}, WitnessQuorum: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.WitnessedSize != rep.LatestSize || rep.LatestSize != 408 || len(rep.LatestCosigners) != 1 || rep.Cosignatures < 4 || rep.UnknownCosignatures != 0 {
			t.Fatalf("report %+v", rep)
		}
	}

	// Reopening does not resubmit: the status is read back from storage.
	a = la.open(t, Options{Origin: oa, Witnesses: []WitnessConfig{wb.config()}, WitnessHTTPClient: wb.srv.Client()})
	if st := a.WitnessStatus(); !st.QuorumMet || st.LatestSize != 408 {
		t.Fatalf("after reopen: %+v", st)
	}
	a.Close()
}

// A witness being down does not block appends; it shows in the status and
// the others still make the quorum.
func TestWitnessDownDoesNotBlock(t *testing.T) {
	tl := newTestLedger(t)
	vkey := initLedgerKey(t, tl, "coffer/audit")
	up := newTestWitness(t, t.TempDir(), "up.example/w", WitnessedLog{VerifierKey: vkey})
	down := newTestWitness(t, t.TempDir(), "down.example/w", WitnessedLog{VerifierKey: vkey})
	down.srv.Close()
	l := tl.open(t, Options{Witnesses: []WitnessConfig{up.config(), down.config()}, WitnessQuorum: 1})
	defer l.Close()
	appendN(t, l, 0, 200, 8)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	st := l.WitnessStatus()
	if !st.QuorumMet || st.Cosigned != 1 || st.Quorum != 1 {
		t.Fatalf("status %+v", st)
	}
	if st.Witnesses[1].LastError == "" || st.Witnesses[1].Failures == 0 || st.Witnesses[1].CosignedSeq != 0 {
		t.Fatalf("down witness status %+v", st.Witnesses[1])
	}
	appendN(t, l, 200, 50, 8) // still appending
	if l.Size() != 250 {
		t.Fatal(l.Size())
	}
}

// A witness that fails for a while cosigns once it is back, from the size
// it cosigned before.
func TestWitnessRecovers(t *testing.T) {
	tl := newTestLedger(t)
	vkey := initLedgerKey(t, tl, "coffer/audit")
	w, err := NewWitness(t.TempDir(), WitnessOptions{Name: "flaky.example/w", Logs: []WitnessedLog{{VerifierKey: vkey}}})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(rw, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	l := tl.open(t, Options{Witnesses: []WitnessConfig{{URL: srv.URL, VerifierKey: w.PublicKey()}}})
	defer l.Close()
	appendN(t, l, 0, 10, 2)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	for i := range 3 {
		appendN(t, l, 10+i*10, 10, 2)
		if err := publishAndSync(t, l); !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("while down: %v", err)
		}
	}
	if st := l.WitnessStatus(); st.Witnesses[0].Failures < 3 || st.Witnesses[0].CosignedSize != 10 {
		t.Fatalf("while down: %+v", st)
	}
	down.Store(false)
	if err := l.SyncWitnesses(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.WitnessStatus(); !st.QuorumMet || st.Witnesses[0].Failures != 0 || st.Witnesses[0].CosignedSize != 40 {
		t.Fatalf("back: %+v", st)
	}
	if c, _ := w.Latest("coffer/audit"); c.Tree.N != 40 {
		t.Fatalf("witness at %d", c.Tree.N)
	}
}

// copyLedger copies a closed ledger directory (as a backup restore would).
func copyLedger(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dst, "key"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A ledger restored from an older copy of its directory, or one that
// forked from it, is refused by the witness, whose state stays unchanged.
func TestWitnessRefusesRolledBackLedger(t *testing.T) {
	tl := newTestLedger(t)
	vkey := initLedgerKey(t, tl, "coffer/audit")
	tw := newTestWitness(t, t.TempDir(), "w.example/w", WitnessedLog{VerifierKey: vkey})
	opts := Options{Witnesses: []WitnessConfig{tw.config()}}

	l := tl.open(t, opts)
	appendN(t, l, 0, 50, 4)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	l.Close()
	old := testLedger{dir: copyLedger(t, tl.dir), sealer: tl.sealer}

	l = tl.open(t, opts)
	appendN(t, l, 50, 50, 4)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	l.Close()
	state := readFile(t, filepath.Join(tw.dir, "logs", witnessLogID("coffer/audit")))
	checkUnchanged := func(step string) {
		t.Helper()
		if c, _ := tw.w.Latest("coffer/audit"); c.Tree.N != 100 {
			t.Fatalf("%s: witness moved to %d", step, c.Tree.N)
		}
		if !bytes.Equal(state, readFile(t, filepath.Join(tw.dir, "logs", witnessLogID("coffer/audit")))) {
			t.Fatalf("%s: witness state file changed", step)
		}
	}

	// The restored copy is at 50, whose checkpoint the witness did cosign
	// at the time. Its next checkpoint (70) is behind the 100 the witness
	// has cosigned since: refused.
	r := old.open(t, opts)
	defer r.Close()
	if st := r.WitnessStatus(); !st.QuorumMet || st.LatestSize != 50 {
		t.Fatalf("restored: %+v", st)
	}
	appendN(t, r, 5000, 20, 4)
	err := publishAndSync(t, r)
	st := r.WitnessStatus()
	if !errors.Is(err, ErrNoQuorum) || st.QuorumMet || !strings.Contains(st.Witnesses[0].LastError, "rolled back") {
		t.Fatalf("rolled back: %v, %+v", err, st)
	}
	checkUnchanged("rollback")

	// It grows past 100 with other entries: a fork, whose consistency
	// proof from the witnessed tree cannot verify.
	appendN(t, r, 6000, 60, 4)
	err = publishAndSync(t, r)
	st = r.WitnessStatus()
	if !errors.Is(err, ErrNoQuorum) || !strings.Contains(st.Witnesses[0].LastError, "422") {
		t.Fatalf("fork: %v, %+v", err, st)
	}
	checkUnchanged("fork")
	if _, err := Verify(context.Background(), old.dir, VerifyOptions{Witnesses: []string{tw.w.PublicKey()}, WitnessQuorum: 1, RequireLatestWitnessed: true}); err == nil || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("verify of the fork: %v", err)
	}
	// Without that demand the fork verifies only up to the witnessed
	// prefix, and the report says so.
	rep, err := Verify(context.Background(), old.dir, VerifyOptions{Witnesses: []string{tw.w.PublicKey()}, WitnessQuorum: 1})
	if err != nil || rep.WitnessedSize >= rep.Size {
		t.Fatalf("verify of the fork: witnessed %v of %v, %v", rep.WitnessedSize, rep.Size, err)
	}
}

// signWithLedgerKey signs an arbitrary checkpoint with a ledger's real key.
func signWithLedgerKey(t *testing.T, dir string, c Checkpoint) []byte {
	t.Helper()
	s, err := note.NewSigner(strings.TrimSpace(string(readFile(t, filepath.Join(dir, "key")))))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := signCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// checkpointAt returns the stored checkpoint of the given size.
func checkpointAt(t *testing.T, dir string, n int64) []byte {
	t.Helper()
	hist, err := readCheckpointHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if c, err := ParseCheckpoint(string(h.data[:bytes.Index(h.data, []byte("\n\n"))+1])); err == nil && c.Tree.N == n {
			return h.data
		}
	}
	t.Fatalf("no checkpoint of size %d", n)
	return nil
}

func proofBetween(t *testing.T, dir string, old, new int64) tlog.TreeProof {
	t.Helper()
	p, err := Consistency(context.Background(), dir, "", old, new)
	if err != nil {
		t.Fatal(err)
	}
	return p.Proof
}

// The add-checkpoint protocol, request by request, against hand-crafted
// submissions; every refusal leaves the witness state as it was, and the
// state survives a restart.
func TestWitnessAddCheckpointProtocol(t *testing.T) {
	tl := buildLedger(t) // checkpoints at 300, 600, 700
	vkey, err := ReadPublicKey(tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	wdir := t.TempDir()
	tw := newTestWitness(t, wdir, "w.example/w", WitnessedLog{VerifierKey: vkey})
	ck300, ck600, ck700 := checkpointAt(t, tl.dir, 300), checkpointAt(t, tl.dir, 600), checkpointAt(t, tl.dir, 700)
	p300to600, p600to700 := proofBetween(t, tl.dir, 300, 600), proofBetween(t, tl.dir, 600, 700)
	bad := append(tlog.TreeProof(nil), p300to600...)
	bad[0][0] ^= 1
	var root tlog.Hash
	rand.Read(root[:])
	fork600 := signWithLedgerKey(t, tl.dir, Checkpoint{Origin: "coffer/audit", Tree: tlog.Tree{N: 600, Hash: root}})
	fork700 := signWithLedgerKey(t, tl.dir, Checkpoint{Origin: "coffer/audit", Tree: tlog.Tree{N: 700, Hash: root}})
	// A stranger's key, once under another origin, once under ours.
	skey, _, _ := note.GenerateKey(rand.Reader, "other.example/log")
	other, _ := note.NewSigner(skey)
	unknown, _ := signCheckpoint(Checkpoint{Origin: "other.example/log", Tree: tlog.Tree{N: 1}}, other)
	skey2, _, _ := note.GenerateKey(rand.Reader, "coffer/audit")
	impostor, _ := note.NewSigner(skey2)
	forged, _ := signCheckpoint(Checkpoint{Origin: "coffer/audit", Tree: tlog.Tree{N: 800, Hash: root}}, impostor)

	wv, err := fnote.NewVerifierForCosignatureV1(tw.w.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(wdir, "logs", witnessLogID("coffer/audit"))
	steps := []struct {
		name   string
		body   []byte
		status int
		size   string // 409 body
		now    int64  // witnessed size afterwards
	}{
		{"malformed", []byte("hello\n"), 400, "", 0},
		{"no blank line", []byte("old 0\n"), 400, "", 0},
		{"unknown origin", formatAddCheckpoint(0, nil, unknown), 404, "", 0},
		{"wrong key", formatAddCheckpoint(0, nil, forged), 403, "", 0},
		{"proof with old 0", formatAddCheckpoint(0, p300to600, ck300), 400, "", 0},
		{"first (trust on first use)", formatAddCheckpoint(0, nil, ck300), 200, "", 300},
		{"stale old size", formatAddCheckpoint(0, nil, ck600), 409, "300\n", 300},
		{"bad consistency proof", formatAddCheckpoint(300, bad, ck600), 422, "", 300},
		{"empty consistency proof", formatAddCheckpoint(300, nil, ck600), 422, "", 300},
		{"consistent", formatAddCheckpoint(300, p300to600, ck600), 200, "", 600},
		{"rollback: old above size", formatAddCheckpoint(600, nil, ck300), 400, "", 600},
		{"rollback: smaller checkpoint", formatAddCheckpoint(300, nil, ck300), 409, "600\n", 600},
		{"fork: same size, other root", formatAddCheckpoint(600, nil, fork600), 409, "600\n", 600},
		{"fork: larger, other root", formatAddCheckpoint(600, p600to700, fork700), 422, "", 600},
		{"same checkpoint again", formatAddCheckpoint(600, nil, ck600), 200, "", 600},
		{"too large", append(formatAddCheckpoint(600, nil, ck700), bytes.Repeat([]byte("x"), 70<<10)...), 413, "", 600},
		{"consistent again", formatAddCheckpoint(600, p600to700, ck700), 200, "", 700},
	}
	for _, s := range steps {
		before, _ := os.ReadFile(statePath)
		status, body, ctype := tw.post(t, s.body)
		if status != s.status {
			t.Fatalf("%s: status %d (%q), want %d", s.name, status, body, s.status)
		}
		if c, _ := tw.w.Latest("coffer/audit"); c.Tree.N != s.now {
			t.Fatalf("%s: witnessed size %d, want %d", s.name, c.Tree.N, s.now)
		}
		switch status {
		case 200:
			_, msg, _ := strings.Cut(string(s.body), "\n\n")
			line, err := pickCosignature([]byte(msg), []byte(body), wv)
			if err != nil || !strings.HasPrefix(body, "— w.example/w ") {
				t.Fatalf("%s: cosignature %q: %v", s.name, body, err)
			}
			ts, err := fnote.CoSigV1Timestamp(note.Signature{Base64: strings.Fields(string(line))[2]})
			if err != nil || ts.Unix() <= 0 {
				t.Fatalf("%s: timestamp %v %v", s.name, ts, err)
			}
		case 409:
			if body != s.size || ctype != "text/x.tlog.size" {
				t.Fatalf("%s: 409 body %q type %q", s.name, body, ctype)
			}
			fallthrough
		default:
			if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
				t.Fatalf("%s: refused, but the state file changed", s.name)
			}
		}
	}
	if resp, err := http.Get(tw.srv.URL + WitnessAddCheckpointPath); err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET: %v %v", resp, err)
	}

	// Restart: same key, same state, rollback still refused.
	fi, err := os.Stat(filepath.Join(wdir, "key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness key mode: %v %v", fi, err)
	}
	tw.srv.Close()
	tw2 := newTestWitness(t, wdir, "w.example/w", WitnessedLog{VerifierKey: vkey})
	if tw2.w.PublicKey() != tw.w.PublicKey() {
		t.Fatal("witness key changed on restart")
	}
	if pk, err := ReadWitnessPublicKey(wdir); err != nil || pk != tw.w.PublicKey() {
		t.Fatalf("ReadWitnessPublicKey: %q %v", pk, err)
	}
	if c, ok := tw2.w.Latest("coffer/audit"); !ok || c.Tree.N != 700 {
		t.Fatalf("after restart: %+v %v", c, ok)
	}
	if status, body, _ := tw2.post(t, formatAddCheckpoint(600, nil, ck600)); status != 409 || body != "700\n" {
		t.Fatalf("after restart: %d %q", status, body)
	}
	// A witness refuses to start over a corrupt state file.
	writeFile(t, statePath, []byte("garbage"))
	if _, err := NewWitness(wdir, WitnessOptions{Name: "w.example/w", Logs: []WitnessedLog{{VerifierKey: vkey}}}); err == nil {
		t.Fatal("witness started over a corrupt state file")
	}
}

// Concurrent submissions from the same old size: exactly one wins, and
// the loser never rolls the state back.
func TestWitnessConcurrentSubmissions(t *testing.T) {
	tl := buildLedger(t)
	vkey, _ := ReadPublicKey(tl.dir)
	tw := newTestWitness(t, t.TempDir(), "w.example/w", WitnessedLog{VerifierKey: vkey})
	ctx := context.Background()
	if _, err := tw.w.AddCheckpoint(ctx, 0, nil, checkpointAt(t, tl.dir, 300)); err != nil {
		t.Fatal(err)
	}
	subs := []struct {
		msg   []byte
		proof tlog.TreeProof
	}{
		{checkpointAt(t, tl.dir, 600), proofBetween(t, tl.dir, 300, 600)},
		{checkpointAt(t, tl.dir, 700), proofBetween(t, tl.dir, 300, 700)},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(subs))
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tw.w.AddCheckpoint(ctx, 300, s.proof, s.msg)
		}()
	}
	wg.Wait()
	var we *WitnessError
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			won = i
		case !errors.As(err, &we) || we.Status != 409:
			t.Fatalf("submission %d: %v", i, err)
		}
	}
	if won < 0 || (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("results %v", errs)
	}
	if c, _ := tw.w.Latest("coffer/audit"); c.Tree.N != []int64{600, 700}[won] {
		t.Fatalf("witness at %d after %d won", c.Tree.N, won)
	}
}

// tamperSig flips a bit of the Ed25519 signature in a note signature
// line, keeping the key name, key hash and timestamp.
func tamperSig(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[4+8+10] ^= 1
	return f[0] + " " + f[1] + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// cosignedLedger builds a ledger of 200 entries whose two checkpoints
// with entries are cosigned by two witnesses, and returns it with their
// keys and the key of a third witness that cosigned nothing.
func cosignedLedger(t *testing.T) (tl testLedger, keys []string, stranger string) {
	t.Helper()
	tl = newTestLedger(t)
	vkey := initLedgerKey(t, tl, "coffer/audit")
	w1 := newTestWitness(t, t.TempDir(), "one.example/w", WitnessedLog{VerifierKey: vkey})
	w2 := newTestWitness(t, t.TempDir(), "two.example/w", WitnessedLog{VerifierKey: vkey})
	w3 := newTestWitness(t, t.TempDir(), "three.example/w")
	l := tl.open(t, Options{Witnesses: []WitnessConfig{w1.config(), w2.config()}})
	appendN(t, l, 0, 100, 4)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 100, 100, 4)
	if err := publishAndSync(t, l); err != nil {
		t.Fatal(err)
	}
	l.Close()
	return tl, []string{w1.w.PublicKey(), w2.w.PublicKey()}, w3.w.PublicKey()
}

func TestVerifyCosignatures(t *testing.T) {
	tl, keys, strangerKey := cosignedLedger(t)
	hist, _ := readCheckpointHistory(tl.dir)
	latest := segmentName(hist[len(hist)-1].seq)

	cases := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		opts    VerifyOptions
		wantErr string // "" = verifies
	}{
		{"intact, quorum 2", nil, VerifyOptions{Witnesses: keys, WitnessQuorum: 2}, ""},
		{"intact, no witness keys", nil, VerifyOptions{}, ""},
		{"quorum not met", nil, VerifyOptions{Witnesses: []string{keys[0], strangerKey}, WitnessQuorum: 2}, "witness quorum not met"},
		{"tampered cosignature", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "cosignatures", latest)
			lines := strings.SplitAfter(string(readFile(t, p)), "\n")
			writeFile(t, p, []byte(tamperSig(t, lines[0])+strings.Join(lines[1:], "")))
		}, VerifyOptions{Witnesses: keys}, "cosignatures/" + latest},
		{"tampered cosignature, older checkpoint", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "cosignatures", segmentName(hist[len(hist)-2].seq))
			lines := strings.SplitAfter(string(readFile(t, p)), "\n")
			writeFile(t, p, []byte(lines[0]+tamperSig(t, lines[1])))
		}, VerifyOptions{Witnesses: keys}, "does not verify on checkpoints/" + segmentName(hist[len(hist)-2].seq)},
		{"cosignature removed: quorum lost", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "cosignatures", latest)
			lines := strings.SplitAfter(string(readFile(t, p)), "\n")
			writeFile(t, p, []byte(lines[0]))
			writeFile(t, filepath.Join(dir, "checkpoint"), append(clone(hist[len(hist)-1].data), lines[0]...))
		}, VerifyOptions{Witnesses: keys, WitnessQuorum: 2, RequireLatestWitnessed: true}, "quorum"},
		{"published checkpoint carries a foreign line", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "checkpoint")
			b := readFile(t, p)
			i := bytes.LastIndexByte(b[:len(b)-1], '\n')
			writeFile(t, p, append(b[:i+1], tamperSig(t, string(b[i+1:]))...))
		}, VerifyOptions{Witnesses: keys}, "checkpoint: published checkpoint carries a signature"},
		{"cosignatures of a missing checkpoint", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "cosignatures", segmentName(999)), readFile(t, filepath.Join(dir, "cosignatures", latest)))
		}, VerifyOptions{Witnesses: keys}, "not in checkpoints/"},
		{"cosignature moved to another checkpoint", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "cosignatures", segmentName(hist[len(hist)-2].seq)), readFile(t, filepath.Join(dir, "cosignatures", latest)))
		}, VerifyOptions{Witnesses: keys}, "does not verify"},
		{"garbage line", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "cosignatures", latest), []byte("not a signature\n"))
			writeFile(t, filepath.Join(dir, "checkpoint"), hist[len(hist)-1].data)
		}, VerifyOptions{}, "not a note signature line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := tl.dir
			if c.mutate != nil {
				dir = copyLedger(t, tl.dir)
				c.mutate(t, dir)
			}
			c.opts.Sealer = tl.sealer
			rep, err := Verify(context.Background(), dir, c.opts)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.opts.Witnesses) > 0 && (rep.Cosignatures != 6 || len(rep.LatestCosigners) != 2 || rep.WitnessedSize != 200) {
					t.Fatalf("report %+v", rep)
				}
				if len(c.opts.Witnesses) == 0 && rep.UnknownCosignatures != 6 {
					t.Fatalf("report %+v", rep)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}

// VerifyRemote checks the cosignatures the published checkpoint carries:
// a quorum it was asked for is enforced, never silently skipped.
func TestVerifyRemoteCosignatures(t *testing.T) {
	tl, keys, strangerKey := cosignedLedger(t)
	vkey := mustPub(t, tl)
	tampered := copyLedger(t, tl.dir)
	p := filepath.Join(tampered, "checkpoint")
	b := readFile(t, p)
	i := bytes.LastIndexByte(b[:len(b)-1], '\n')
	writeFile(t, p, append(b[:i+1], tamperSig(t, string(b[i+1:]))...))

	cases := []struct {
		name    string
		dir     string
		opts    VerifyOptions
		wantErr string // "" = verifies
	}{
		{"quorum 2", tl.dir, VerifyOptions{Witnesses: keys, WitnessQuorum: 2}, ""},
		{"no witness keys", tl.dir, VerifyOptions{}, ""},
		{"quorum not met", tl.dir, VerifyOptions{Witnesses: []string{keys[0], strangerKey}, WitnessQuorum: 2}, "witness quorum not met"},
		{"quorum larger than the keys", tl.dir, VerifyOptions{Witnesses: keys[:1], WitnessQuorum: 2}, "witness quorum 2 with 1 witness keys"},
		{"tampered cosignature", tampered, VerifyOptions{Witnesses: keys}, "does not verify on checkpoints/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, client := serveLedger(t, LedgerHandler(c.dir))
			c.opts.PublicKey = vkey
			rep, err := VerifyRemote(context.Background(), base, client, c.opts)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.opts.Witnesses) > 0 && (rep.Cosignatures != 2 || len(rep.LatestCosigners) != 2 || rep.WitnessedSize != 200) {
					t.Fatalf("report %+v", rep)
				}
				if len(c.opts.Witnesses) == 0 && (rep.UnknownCosignatures != 2 || rep.WitnessedSize != 0) {
					t.Fatalf("report %+v", rep)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}
