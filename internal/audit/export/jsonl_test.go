package export

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// readJSONL returns the records of the file and of its rotated files, in
// order of their names (rotated first).
func readJSONL(t *testing.T, path string) []Record {
	t.Helper()
	files, _ := filepath.Glob(path + ".*")
	slices.Sort(files)
	files = append(files, path)
	var out []Record
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v: %q", p, err, sc.Text())
			}
			out = append(out, r)
		}
		f.Close()
	}
	return out
}

// ackThenCrash delivers to the sink, then fails as a process killed
// before writing the cursor would, once the batch holding index at has
// been delivered.
type ackThenCrash struct {
	Sink
	at    int64
	crash context.CancelFunc
}

func (a ackThenCrash) Deliver(ctx context.Context, b []Record) error {
	if err := a.Sink.Deliver(ctx, b); err != nil {
		return err
	}
	if b[len(b)-1].Index >= a.at {
		a.crash()
		return ctx.Err()
	}
	return nil
}

func TestJSONLExactlyOnceAcrossCrashAndTornTail(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 200)
	if err := l.log.Erase(t.Context(), "carol"); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := JSONLConfig{Name: "file", Path: path, MaxBytes: 16 << 10}
	sink, err := NewJSONL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, crash := context.WithCancel(t.Context())
	f, err := NewFollower(l.dir, l.sealer, state, ackThenCrash{sink, 77, crash}, Options{Source: l.log, MaxBatch: 25, sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(ctx); err == nil {
		t.Fatal("no crash")
	}
	sink.Close()
	// The crash also tore a line being written after the batch.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"index":100,"leaf_ha`)
	fh.Close()
	if cur, _ := ReadCursor(state, "file"); cur != 75 {
		t.Fatalf("cursor %d, want 75", cur)
	}

	sink, err = NewJSONL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runUntil(t, l, state, sink, 199, Options{MaxBatch: 25})
	checkSequence(t, readJSONL(t, path), 200, "carol")
	if rotated, _ := filepath.Glob(path + ".*"); len(rotated) == 0 {
		t.Fatal("no rotation")
	}
}
