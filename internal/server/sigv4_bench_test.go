package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/seal"
)

// BenchmarkSigV4Authz measures what every S3 request pays before its
// operation runs: SigV4 verification (parse, secret lookup in SQLite,
// unsealing it under the keyring, canonical request, HMAC chain) and the
// authorization decision (keyAuthz: key and user lookups, key policy,
// Decide), on a real SQLite store. The request is a signed GET of an
// object with an empty payload hash, as the AWS SDK sends it.
func BenchmarkSigV4Authz(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var root seal.RootKey
	root[0] = 7
	ring, err := seal.NewKeyring(ctx, root, st)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policy.NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateUser(ctx, meta.User{Name: "ed", PasswordHash: "x", Roles: []string{"editor"}, Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	cache := newIdentityCache(st) // as the server wires it
	keys := &accessKeys{store: st, keys: ring, now: time.Now, cache: cache}
	id, secret, err := keys.create(ctx, "ed", time.Time{}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	verifier := &sigv4.Verifier{Creds: keys, Region: "us-east-1"}
	authz := &keyAuthz{store: st, engine: engine, now: time.Now, log: slog.New(slog.NewTextHandler(io.Discard, nil)), cache: cache}

	req, err := http.NewRequest(http.MethodGet, "https://127.0.0.1:9000/footage/day1/a.mov", nil)
	if err != nil {
		b.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, "s3", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	one := func() {
		// As withKeyMemo does for every request the server serves.
		req := req.WithContext(context.WithValue(ctx, keyMemoKey{}, &keyMemo{}))
		res, err := verifier.Verify(req)
		if err != nil {
			b.Fatal(err)
		}
		if err := authz.s3(req.Context(), res.AccessKeyID, "s3:GetObject", "footage", "day1/a.mov"); err != nil {
			b.Fatal(err)
		}
	}
	one()
	b.Run("verify+decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			one()
		}
	})
	// The floor under both: one point read of the metadata store (Verify
	// makes one, keyAuthz one more for the owner).
	b.Run("sqlite-read", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetUser(ctx, "ed"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Without the identity cache: both records read from SQLite each time.
	uncached := &keyAuthz{store: st, engine: engine, now: time.Now, log: authz.log}
	uncachedKeys := &sigv4.Verifier{Creds: &accessKeys{store: st, keys: ring, now: time.Now}, Region: "us-east-1"}
	b.Run("verify+decide/uncached", func(b *testing.B) {
		for b.Loop() {
			req := req.WithContext(context.WithValue(ctx, keyMemoKey{}, &keyMemo{}))
			res, err := uncachedKeys.Verify(req)
			if err != nil {
				b.Fatal(err)
			}
			if err := uncached.s3(req.Context(), res.AccessKeyID, "s3:GetObject", "footage", "day1/a.mov"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := verifier.Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
