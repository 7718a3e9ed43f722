package vault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int{4 << 10, 64 << 20}

func benchName(size int) string {
	if size >= 1<<20 {
		return fmt.Sprintf("%dMiB", size>>20)
	}
	return fmt.Sprintf("%dKiB", size>>10)
}

// BenchmarkPutObject measures PutObject end to end on the real stores:
// MD5, sealing, the blob write with fsync, and the SQLite commit.
func BenchmarkPutObject(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(benchName(size), func(b *testing.B) {
			e := newEnv(b)
			bucket := e.bucket(b, "bench")
			data := randomBytes(size, 1)
			ctx := context.Background()
			r := bytes.NewReader(data)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r.Reset(data)
				if _, err := e.svc.PutObject(ctx, bucket, fmt.Sprintf("k%d", i%8), r, int64(size), PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetObject measures OpenObject plus a full Range read.
func BenchmarkGetObject(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(benchName(size), func(b *testing.B) {
			e := newEnv(b)
			bucket := e.bucket(b, "bench")
			e.put(b, bucket, "k", randomBytes(size, 1), PutOptions{})
			ctx := context.Background()
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := e.svc.OpenObject(ctx, bucket, "k")
				if err != nil {
					b.Fatal(err)
				}
				rc, err := r.Range(ctx, 0, int64(size))
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					m, err := rc.Read(buf)
					n += m
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if n != size {
					b.Fatal("short read", n)
				}
				rc.Close()
				r.Close()
			}
		})
	}
}
