package scan

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// genCorpus writes about n bytes of mixed text: Go-like source code, log
// lines, CSV rows and JSON records, with a planted secret or personal
// datum about every 64 KiB.
func genCorpus(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.Grow(n + 4096)
	words := []string{"user", "order", "request", "handler", "config", "server", "client", "value", "result", "error",
		"buffer", "stream", "index", "count", "name", "path", "status", "cache", "token", "session", "key", "data",
		"message", "context", "timeout", "retry", "update", "delete", "create", "select", "from", "where", "password",
		"account", "payment", "email", "phone", "address", "version", "build", "test", "http", "https", "json", "id"}
	alnum := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rnd := func(k int, set string) string {
		s := make([]byte, k)
		for i := range s {
			s[i] = set[r.IntN(len(set))]
		}
		return string(s)
	}
	w := func() string { return words[r.IntN(len(words))] }
	hex := "0123456789abcdef"
	planted := []func() string{
		func() string { return "AWS_ACCESS_KEY_ID=AKIA" + rnd(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") + "\n" },
		func() string { return "\tgithubToken := \"ghp_" + rnd(36, alnum) + "\"\n" },
		func() string { return "STRIPE_KEY=sk_live_" + rnd(24, alnum) + "\n" },
		func() string { return "db_url: postgres://app:" + rnd(12, alnum) + "@db.internal:5432/app\n" },
		func() string { return "{\"name\":\"张三\",\"身份证号\":\"11010519850612123X\"}\n" },
		func() string { return "customer,card,4532015112830366\n" },
		func() string {
			return "contact email: li.wei@" + rnd(6, "abcdefghijklmnop") + ".cn phone +8613812345678\n"
		},
		func() string {
			return "slack: xoxb-" + rnd(11, "0123456789") + "-" + rnd(12, "0123456789") + "-" + rnd(24, alnum) + "\n"
		},
	}
	next := 64 << 10
	for b.Len() < n {
		if b.Len() > next {
			b.WriteString(planted[r.IntN(len(planted))]())
			next += 64 << 10
		}
		switch r.IntN(4) {
		case 0: // code
			fmt.Fprintf(&b, "func (s *%s) %s%s(ctx context.Context, %s string) (int, error) {\n", w(), w(), w(), w())
			for range 1 + r.IntN(6) {
				fmt.Fprintf(&b, "\tif err := s.%s.%s(%s, %d); err != nil {\n\t\treturn 0, fmt.Errorf(\"%s %s: %%w\", err)\n\t}\n", w(), w(), w(), r.IntN(1000), w(), w())
			}
			b.WriteString("\treturn len(" + w() + "), nil\n}\n\n")
		case 1: // logs
			for range 1 + r.IntN(8) {
				fmt.Fprintf(&b, "2024-%02d-%02dT%02d:%02d:%02d.%03dZ INFO %s %s %s=%d duration=%dms request_id=%s trace=%s\n",
					1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), w(), w(), w(), r.IntN(100000), r.IntN(5000), rnd(32, hex), rnd(16, hex))
			}
		case 2: // CSV
			for range 1 + r.IntN(8) {
				fmt.Fprintf(&b, "%d,%s,%s,%d.%02d,%s,2023-%02d-%02d,%d\n", r.IntN(1e9), w(), w(), r.IntN(1000), r.IntN(100), rnd(8, alnum), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1e6))
			}
		case 3: // JSON
			fmt.Fprintf(&b, "{\"id\":%d,\"%s\":\"%s\",\"%s\":%d,\"sha256\":\"%s\",\"uuid\":\"%s-%s-%s-%s-%s\",\"tags\":[\"%s\",\"%s\"]}\n",
				r.IntN(1e9), w(), w(), w(), r.IntN(1e6), rnd(64, hex), rnd(8, hex), rnd(4, hex), rnd(4, hex), rnd(4, hex), rnd(12, hex), w(), w())
		}
	}
	return b.Bytes()
}

// BenchmarkScan scans a 64 MiB mixed corpus in 1 MiB chunks, one engine
// shared by GOMAXPROCS workers (the way the sources use it), and reports
// MB/s and allocations.
func BenchmarkScan(b *testing.B) {
	corpus := genCorpus(64<<20, 1)
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 1 << 20
	for _, par := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", par), func(b *testing.B) {
			b.SetBytes(int64(len(corpus)))
			b.ReportAllocs()
			var found int
			for b.Loop() {
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					next int
				)
				found = 0
				for range par {
					wg.Go(func() {
						for {
							mu.Lock()
							off := next
							next += chunk
							mu.Unlock()
							if off >= len(corpus) {
								return
							}
							n := len(e.ScanChunk(corpus[off:min(off+chunk, len(corpus))], int64(off), Location{Path: "corpus"}))
							mu.Lock()
							found += n
							mu.Unlock()
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(found), "findings")
		})
	}
}
