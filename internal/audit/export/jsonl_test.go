package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// lastLine finds the complete lines and the last index whatever the
// lengths of the lines around the 64 KiB read chunks.
func TestJSONLLastLine(t *testing.T) {
	long := func(i int, n int) string {
		return fmt.Sprintf(`{"index":%d,"pad":"%s"}`, i, strings.Repeat("x", n)) + "\n"
	}
	torn := strings.Repeat("y", 150<<10) // no newline
	for _, tt := range []struct {
		name     string
		content  string
		complete int
		last     int64
	}{
		{"empty", "", 0, -1},
		{"only a torn line", torn, 0, -1},
		{"one line", long(7, 10), len(long(7, 10)), 7},
		{"short lines", long(1, 10) + long(2, 10), 2 * len(long(1, 10)), 2},
		{"long last line and a long torn tail", long(1, 10) + long(2, 200<<10) + torn, len(long(1, 10) + long(2, 200<<10)), 2},
		{"last line not a record", long(1, 10) + "garbage\n", len(long(1, 10)) + 8, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			complete, last, err := lastLine(f)
			if err != nil || complete != int64(tt.complete) || last != tt.last {
				t.Fatalf("lastLine = %d, %d, %v; want %d, %d", complete, last, err, tt.complete, tt.last)
			}
		})
	}
}
