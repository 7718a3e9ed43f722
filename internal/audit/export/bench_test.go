package export

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
)

// BenchmarkFollowJSONL measures export throughput from a ledger to a JSON
// lines file (read, open payload, check commitment, encode, write, fsync
// per batch, cursor per batch).
func BenchmarkFollowJSONL(b *testing.B) {
	for _, batch := range []int{256, 1024} {
		b.Run(map[int]string{256: "batch256", 1024: "batch1024"}[batch], func(b *testing.B) {
			root := b.TempDir()
			s, _ := audit.NewDirSealer(filepath.Join(root, "keys"))
			l, err := audit.Open(context.Background(), filepath.Join(root, "ledger"), audit.Options{Sealer: s, CheckpointInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			const n = 20000
			errs := make(chan error, 16)
			for w := range 16 {
				go func() {
					for i := w; i < n; i += 16 {
						if _, err := l.Append(context.Background(), testEvent(i)); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range 16 {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sink, err := NewJSONL(JSONLConfig{Path: filepath.Join(b.TempDir(), "a.jsonl")})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				f, _ := NewFollower(filepath.Join(root, "ledger"), s, b.TempDir(), stopAt{sink, n - 1, cancel}, Options{Source: l, MaxBatch: batch})
				f.Run(ctx)
				sink.Close()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
