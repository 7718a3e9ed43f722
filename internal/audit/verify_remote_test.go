package audit

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func verifyRemote(t *testing.T, tl testLedger, h http.Handler, vkey string) (*RemoteReport, error) {
	t.Helper()
	base, client := serveLedger(t, h)
	return VerifyRemote(context.Background(), base, client, VerifyOptions{PublicKey: vkey})
}

func TestVerifyRemoteGood(t *testing.T) {
	tl := buildLedger(t)
	local, err := tl.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	// Served by LedgerHandler, and mirrored as plain static files.
	for name, h := range map[string]http.Handler{
		"LedgerHandler": LedgerHandler(tl.dir),
		"static mirror": http.FileServer(http.Dir(tl.dir)),
	} {
		t.Run(name, func(t *testing.T) {
			rep, err := verifyRemote(t, tl, h, mustPub(t, tl))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", rep)
			if rep.Size != 700 || rep.LatestSize != 700 || rep.Checkpoints != 4 || rep.Root != local.Root {
				t.Fatalf("report %+v, local %+v", rep, local)
			}
			if !rep.PayloadsSkipped || rep.PayloadsChecked != 0 {
				t.Errorf("payloads: skipped %v, checked %d", rep.PayloadsSkipped, rep.PayloadsChecked)
			}
			// Full tiles: entries 0, 1; level 0: 0, 1. Partial tiles of
			// the latest tree: entries 2.p/188, 0/002.p/188, 1/000.p/2.
			if rep.TilesChecked != 7 {
				t.Errorf("TilesChecked = %d, want 7", rep.TilesChecked)
			}
			if rep.Requests == 0 || rep.BytesFetched < 700*(34+32) {
				t.Errorf("Requests %d, BytesFetched %d", rep.Requests, rep.BytesFetched)
			}
		})
	}
}

func TestVerifyRemoteNeedsTheKey(t *testing.T) {
	tl := buildLedger(t)
	other := buildLedger(t)
	base, client := serveLedger(t, LedgerHandler(tl.dir))
	ctx := context.Background()
	if _, err := VerifyRemote(ctx, base, client, VerifyOptions{}); err == nil {
		t.Fatal("VerifyRemote without a public key succeeded")
	}
	if _, err := VerifyRemote(ctx, "file:///etc/", client, VerifyOptions{PublicKey: mustPub(t, tl)}); err == nil {
		t.Fatal("VerifyRemote of a file URL succeeded")
	}
	// A whole replacement log does not verify against the original key.
	_, err := VerifyRemote(ctx, base, client, VerifyOptions{PublicKey: mustPub(t, other)})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Path != "checkpoints/00000000000000000001" {
		t.Fatalf("VerifyRemote with another log's key = %v", err)
	}
	// The base URL may omit the trailing slash.
	if _, err := VerifyRemote(ctx, strings.TrimSuffix(base, "/"), client, VerifyOptions{PublicKey: mustPub(t, tl)}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRemoteTamper(t *testing.T) {
	entryOff := func(n int64) int { return int(n%256)*(2+entrySize) + 2 }
	flip := func(p string, off int) func(*testing.T, testLedger) {
		return func(t *testing.T, tl testLedger) {
			b := readFile(t, tl.path(p))
			b[off] ^= 1
			writeFile(t, tl.path(p), b)
		}
	}
	remove := func(p string) func(*testing.T, testLedger) {
		return func(t *testing.T, tl testLedger) {
			if err := os.Remove(tl.path(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	otherKey := func(p string) func(*testing.T, testLedger) {
		return func(t *testing.T, tl testLedger) { signWithOtherKey(t, tl, p) }
	}
	tests := []struct {
		name      string
		tamper    func(t *testing.T, tl testLedger)
		wantIndex int64
		wantPath  string
		wantWords string
	}{
		{"hash tile altered", flip("tile/0/001", 5*32), 256 + 5, "tile/0/001", "tile differs"},
		{"partial hash tile altered", flip("tile/0/002.p/188", 100*32+3), 512 + 100, "tile/0/002.p/188", "tile differs"},
		{"level-1 tile altered", flip("tile/1/000.p/2", 32), 256, "tile/1/000.p/2", "tile differs"},
		{"hash tile truncated", func(t *testing.T, tl testLedger) {
			if err := os.Truncate(tl.path("tile/0/000"), 200*32); err != nil {
				t.Fatal(err)
			}
		}, 200, "tile/0/000", "tile differs"},
		{"entry bundle altered", flip("tile/entries/001", entryOff(300)+7), 300, "tile/entries/001", "differs from the published tile tile/0/001"},
		{"partial entry bundle altered", flip("tile/entries/002.p/188", entryOff(650)), 650, "tile/entries/002.p/188", "differs from the published tile tile/0/002.p/188"},
		{"entry bundle with a bad length", flip("tile/entries/000", entryOff(17)-1), 17, "tile/entries/000", "malformed entry"},
		// LedgerHandler does not serve a file longer than its name says
		// (and VerifyRemote would not read past that length).
		{"entry bundle with an extra entry", func(t *testing.T, tl testLedger) {
			p := tl.path("tile/entries/002.p/188")
			b := readFile(t, p)
			writeFile(t, p, append(b, b[:34]...))
		}, 512, "tile/entries/002.p/188", "missing"},
		{"entry bundle missing", remove("tile/entries/001"), 256, "tile/entries/001", "missing"},
		{"hash tile missing", remove("tile/0/000"), 0, "tile/0/000", "missing"},
		{"history checkpoint re-signed with another key", otherKey(ckpt3), -1, ckpt3, "does not verify"},
		{"published checkpoint re-signed with another key", otherKey("checkpoint"), -1, "checkpoint", "does not verify"},
		// One behind is what a log between its two checkpoint writes
		// shows: VerifyRemote looks again a few times before failing.
		{"published checkpoint rolled back by one", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path("checkpoint"), readFile(t, tl.path(ckpt3)))
		}, -1, "checkpoint", "not the latest"},
		{"published checkpoint rolled back by two", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path("checkpoint"), readFile(t, tl.path(ckpt2)))
		}, -1, "checkpoint", "not the latest"},
		{"history checkpoint replaced (operator rewrites history)", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path(ckpt3), resign(t, tl, 600, tlog.Hash{1}))
		}, 300, ckpt3, "do not hash to the checkpoint's root"},
		{"fork", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path(ckpt5), resign(t, tl, 600, tlog.Hash{2}))
			writeFile(t, tl.path("checkpoint"), readFile(t, tl.path(ckpt5)))
		}, -1, ckpt5, "fork"},
		{"history checkpoint removed", remove(ckpt3), -1, ckpt3, "missing from the history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := buildLedger(t)
			tt.tamper(t, tl)
			_, err := verifyRemote(t, tl, LedgerHandler(tl.dir), mustPub(t, tl))
			checkVerifyError(t, err, tt.wantIndex, tt.wantPath, tt.wantWords)
		})
	}
}

// TestVerifyRemoteBoundsDownloads serves endless and oversized files: the
// verifier reads no more than the file it asked for can hold.
func TestVerifyRemoteBoundsDownloads(t *testing.T) {
	tl := buildLedger(t)
	files := http.FileServer(http.Dir(tl.dir))
	tests := []struct {
		path      string
		wantIndex int64
		limit     int64
	}{
		{"checkpoint", -1, maxCheckpointSize},
		{"checkpoints/00000000000000000002", -1, maxCheckpointSize},
		{"tile/entries/001", 256, 256 * 34},
		{"tile/0/000", 0, 256 * 32},
		{"tile/0/002.p/188", 512, 188 * 32},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var served int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.TrimPrefix(r.URL.Path, "/") != tt.path {
					files.ServeHTTP(w, r)
					return
				}
				// An endless body.
				buf := make([]byte, 4096)
				for {
					n, err := w.Write(buf)
					served += int64(n)
					if err != nil || served > 64<<20 {
						return
					}
				}
			})
			rep, err := verifyRemote(t, tl, h, mustPub(t, tl))
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Path != tt.path || ve.Index != tt.wantIndex || !strings.Contains(ve.Reason, "larger than") {
				t.Fatalf("VerifyRemote = %v, %v", rep, err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestVerifyRemoteTransportErrors: an unreachable or failing server is an
// error, not a verification result.
func TestVerifyRemoteTransportErrors(t *testing.T) {
	tl := buildLedger(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ledger/tile/0/") {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		http.StripPrefix("/ledger", LedgerHandler(tl.dir)).ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, err := VerifyRemote(context.Background(), srv.URL+"/ledger/", srv.Client(), VerifyOptions{PublicKey: mustPub(t, tl)})
	if err == nil || errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("VerifyRemote against a failing server = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := VerifyRemote(ctx, srv.URL+"/ledger/", srv.Client(), VerifyOptions{PublicKey: mustPub(t, tl)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyRemote with a cancelled context = %v", err)
	}
}

// A server that answers every name (a 2^63-checkpoint history) without
// the log's key gets a few dozen probes, not an endless download.
func TestVerifyRemoteEndlessHistory(t *testing.T) {
	tl := buildLedger(t)
	var requests atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if first := historyName(1); r.URL.Path == "/"+first { // genuine
			w.Write(readFile(t, tl.path(first)))
			return
		}
		w.Write([]byte("a checkpoint, surely\n"))
	})
	_, err := verifyRemote(t, tl, h, mustPub(t, tl))
	checkVerifyError(t, err, -1, historyName(math.MaxInt64), "")
	if n := requests.Load(); n > 200 {
		t.Fatalf("%d requests", n)
	}
}

func TestLastSeq(t *testing.T) {
	// A server that answers every probe (the last two) must not make
	// lastSeq overflow and probe forever.
	for _, last := range []int64{0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 1023, 1024, 1025, 1 << 62, math.MaxInt64} {
		for _, from := range []int64{0, 1, last / 2, last} {
			if from > last {
				continue
			}
			calls := 0
			got, err := lastSeq(from, func(seq int64) (bool, error) {
				if calls++; calls > 1000 {
					return false, errors.New("runaway probing")
				}
				return seq >= 1 && seq <= last, nil
			})
			if err != nil || got != last {
				t.Errorf("lastSeq(%d) with %d checkpoints = %d, %v", from, last, got, err)
			}
			if calls > 2*64 {
				t.Errorf("lastSeq made %d probes", calls)
			}
		}
	}
	_, err := lastSeq(0, func(int64) (bool, error) { return false, io.ErrUnexpectedEOF })
	if err == nil {
		t.Error("lastSeq ignored a probe error")
	}
}

// TestVerifyRemoteLiveLedger verifies a ledger over HTTP while it grows
// and issues checkpoints: the history and the published checkpoint change
// between reads, and every verification must still pass.
func TestVerifyRemoteLiveLedger(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{})
	defer l.Close()
	ctx := context.Background()
	base, client := serveLedger(t, LedgerHandler(tl.dir))
	done := make(chan error, 1)
	go func() {
		for i := range 1500 {
			if _, err := l.Append(ctx, testEvent(i)); err != nil {
				done <- err
				return
			}
			if i%50 == 49 {
				if err := l.Publish(ctx); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	verify := func(run int) {
		rep, err := VerifyRemote(ctx, base, client, VerifyOptions{PublicKey: l.PublicKey()})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if rep.Size != rep.LatestSize {
			t.Fatalf("run %d: %+v", run, rep)
		}
	}
	runs := 0
	for finished := false; !finished; runs++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		if runs == 20 { // enough; wait for the appender
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			finished = true
		}
		verify(runs)
	}
	t.Logf("%d verifications of a growing ledger", runs)
}

// BenchmarkVerifyRemote verifies a ledger of 200,000 entries over TLS on
// loopback, reporting entries/s, requests and bytes per verification.
func BenchmarkVerifyRemote(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 200,000-entry ledger")
	}
	const n = 200_000
	tl := newTestLedger(b)
	l := tl.open(b, Options{CheckpointInterval: 100 * time.Millisecond, openFile: openNoSync})
	appendN(b, l, 0, n, 512)
	pub := l.PublicKey()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	base, client := serveLedger(b, LedgerHandler(tl.dir))
	var rep *RemoteReport
	for b.Loop() {
		var err error
		rep, err = VerifyRemote(context.Background(), base, client, VerifyOptions{PublicKey: pub})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Size != n {
			b.Fatalf("size %d", rep.Size)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(rep.Requests), "requests")
	b.ReportMetric(float64(rep.BytesFetched)/(1<<20), "MiB")
	b.ReportMetric(float64(rep.Checkpoints), "checkpoints")
}

// TestFetchTileFallsBackToFull: a partial tile that a log (or a mirror)
// has deleted once the full tile exists is cut from the full tile.
func TestFetchTileFallsBackToFull(t *testing.T) {
	tl := buildLedger(t)
	for _, p := range []string{"tile/0/001.p/44", "tile/entries/001.p/44"} {
		if err := os.Remove(tl.path(p)); err != nil {
			t.Fatal(err)
		}
	}
	base, client := serveLedger(t, LedgerHandler(tl.dir))
	s := &httpSource{base: base, client: client}
	for _, tc := range []struct {
		tile tlog.Tile
		full string
		size int
	}{
		{tlog.Tile{H: tileHeight, L: 0, N: 1, W: 44}, "tile/0/001", 44 * 32},
		{tlog.Tile{H: tileHeight, L: -1, N: 1, W: 44}, "tile/entries/001", 44 * 34},
	} {
		b, err := s.fetchTile(context.Background(), tc.tile)
		if err != nil {
			t.Fatal(err)
		}
		if want := readFile(t, tl.path(tc.full))[:tc.size]; string(b) != string(want) {
			t.Errorf("%s: not the first %d bytes of %s", tilePath(tc.tile), tc.size, tc.full)
		}
	}
	// A partial tile with neither itself nor its full tile is missing.
	if _, err := s.fetchTile(context.Background(), tlog.Tile{H: tileHeight, L: 0, N: 3, W: 5}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing tile: %v", err)
	}
}
