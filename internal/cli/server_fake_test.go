//go:build coffer_fakes3

package cli

import "testing"

// startServer, built with -tags coffer_fakes3, runs the end-to-end tests
// against the in-memory fake of fakes3_test.go instead of the real server:
// useful while internal/server does not build.
func startServer(t *testing.T) (endpoint, accessKey, secretKey, caFile string) {
	t.Helper()
	_, endpoint, accessKey, secretKey, caFile = startFake(t)
	return endpoint, accessKey, secretKey, caFile
}
