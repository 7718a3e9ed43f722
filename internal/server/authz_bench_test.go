package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/policy"
)

// BenchmarkKeyAuthz measures the authorization of one S3 request by an
// access key (key and user lookups, last-use throttle, key policy from
// the cache, Decide) against a real SQLite store. The last-use write
// happens once for the whole run: the throttle keeps it off the hot path.
func BenchmarkKeyAuthz(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	engine, err := policy.NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateUser(ctx, meta.User{Name: "ed", PasswordHash: "x", Roles: []string{"editor"}, Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:coffer:s3:::footage/day1/*"}]}`
	for _, k := range []meta.AccessKey{
		{ID: "PLAIN", SealedSecret: []byte("s"), Owner: "ed", Created: time.Now()},
		{ID: "NARROW", SealedSecret: []byte("s"), Owner: "ed", Created: time.Now(), Policy: doc},
	} {
		if err := st.PutAccessKey(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	a := &keyAuthz{store: st, engine: engine, now: time.Now, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, id := range []string{"PLAIN", "NARROW"} {
		b.Run(id, func(b *testing.B) {
			for b.Loop() {
				if err := a.s3(ctx, id, "s3:GetObject", "footage", "day1/a.mov"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What the throttle saves: a durable last-use write on every request.
	b.Run("PLAIN+write-every-request", func(b *testing.B) {
		for b.Loop() {
			if err := st.TouchAccessKey(ctx, "PLAIN", time.Now()); err != nil {
				b.Fatal(err)
			}
			if err := a.s3(ctx, "PLAIN", "s3:GetObject", "footage", "day1/a.mov"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
