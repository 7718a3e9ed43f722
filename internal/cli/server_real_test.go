//go:build !coffer_fakes3

package cli

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/server"
)

// startServer starts the real Coffer server on a loopback port with a
// fresh data directory and returns its URL, bootstrap administrator
// credentials and local CA file. Every end-to-end test that goes through
// it runs against the real stack; tests that look inside the server
// (which parts arrived, which Range was sent, a read-only user) use the
// in-memory fake of fakes3_test.go through startFake. Build with
// -tags coffer_fakes3 to run them all against the fake.
func startServer(t *testing.T) (endpoint, accessKey, secretKey, caFile string) {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	creds := srv.NewCredentials()
	if creds == nil {
		t.Fatal("the server created no bootstrap credentials")
	}
	return srv.Endpoint(), creds.AccessKey, creds.SecretKey, srv.CAFile()
}
