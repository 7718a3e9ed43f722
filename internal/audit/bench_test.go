package audit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends (each returns after fsync) with
// 1, 16 and 256 concurrent appenders, reporting events/s and the p50/p99
// latency of Append.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			tl := newTestLedger(b)
			l := tl.open(b, Options{CheckpointInterval: time.Second})
			ev := testEvent(1)
			var next atomic.Int64
			lat := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						if _, err := l.Append(context.Background(), ev); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(fileSize(tl.path("log/00000000000000000000"))+fileSize(tl.path("payloads/00000000000000000000")))/float64(b.N), "bytes/event")
		})
	}
}

// BenchmarkVerify verifies a ledger of 1,000,000 entries (built without
// fsync to save time), including every payload.
func BenchmarkVerify(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-entry ledger")
	}
	const n = 1_000_000
	tl := newTestLedger(b)
	// Build fast: skip fsync while building (this measures Verify).
	l := tl.open(b, Options{CheckpointInterval: 100 * time.Millisecond, openFile: openNoSync})
	appendN(b, l, 0, n, 512)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	for _, payloads := range []bool{false, true} {
		b.Run(fmt.Sprintf("payloads=%v", payloads), func(b *testing.B) {
			opts := VerifyOptions{}
			if payloads {
				opts.Sealer = tl.sealer
			}
			for b.Loop() {
				rep, err := Verify(context.Background(), tl.dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Size != n {
					b.Fatalf("size %d", rep.Size)
				}
			}
			b.ReportMetric(float64(n), "entries")
		})
	}
}

type noSyncFile struct{ *os.File }

func (noSyncFile) Sync() error { return nil }

func openNoSync(name string, flag int, perm os.FileMode) (segmentWriter, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}
