package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashKill9 runs concurrent appenders in a child process, kills it
// with SIGKILL, and checks that every Append that returned nil is in the
// recovered ledger and that the ledger verifies.
func TestCrashKill9(t *testing.T) {
	if dir := os.Getenv("AUDIT_CRASH_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	root := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKill9$")
		cmd.Env = append(os.Environ(), "AUDIT_CRASH_CHILD_DIR="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := make(map[int64]string)
		sc := bufio.NewScanner(out)
		killed := false
		deadline := time.Now().Add(10 * time.Second)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			idx, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			acked[idx] = f[1]
			if !killed && (len(acked) >= 3000*(round+1) || time.Now().After(deadline)) {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("child exited before it was killed (%d acks)", len(acked))
		}

		s, err := NewDirSealer(filepath.Join(root, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(context.Background(), filepath.Join(root, "ledger"), Options{Sealer: s})
		if err != nil {
			t.Fatal(err)
		}
		size := l.Size()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		found := 0
		err = ReadPayloads(context.Background(), filepath.Join(root, "ledger"), s, func(ev Event) error {
			if want, ok := acked[ev.Index]; ok {
				if want != ev.RequestID {
					return fmt.Errorf("index %d holds %s, acked as %s", ev.Index, ev.RequestID, want)
				}
				found++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if found != len(acked) {
			t.Fatalf("round %d: %d of %d acknowledged events survived (size %d)", round, found, len(acked), size)
		}
		if _, err := Verify(context.Background(), filepath.Join(root, "ledger"), VerifyOptions{Sealer: s}); err != nil {
			t.Fatalf("round %d: verify after kill -9: %v", round, err)
		}
		t.Logf("round %d: %d acked, %d recovered", round, len(acked), size)
	}
}

func crashChild(root string) {
	s, err := NewDirSealer(filepath.Join(root, "keys"))
	if err != nil {
		panic(err)
	}
	l, err := Open(context.Background(), filepath.Join(root, "ledger"), Options{Sealer: s, CheckpointInterval: 50 * time.Millisecond, SegmentEntries: 1000})
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ev := testEvent(i)
				ev.RequestID = fmt.Sprintf("w%d-%d-%d", w, i, os.Getpid())
				idx, err := l.Append(context.Background(), ev)
				if err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%d %s\n", idx, ev.RequestID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
