package audit

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveLedger serves dir's public files under /ledger/ over TLS on
// loopback, the way the server mounts LedgerHandler, and returns the base
// URL and a client that trusts the server.
func serveLedger(t testing.TB, h http.Handler) (string, *http.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /ledger/", http.StripPrefix("/ledger", h))
	srv := httptest.NewUnstartedServer(mux)
	// A verifier that stops at the first problem drops the connections it
	// was opening: no noise about that.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	// Keep as many connections as VerifyRemote has requests in flight.
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = fetchWindow
	return srv.URL + "/ledger/", client
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func TestLedgerHandlerServesPublicFiles(t *testing.T) {
	tl := buildLedger(t)
	h := LedgerHandler(tl.dir)
	const (
		text  = "text/plain; charset=utf-8"
		octet = "application/octet-stream"
	)
	tests := []struct {
		path, ctype, cache string
		size               int
	}{
		{"checkpoint", text, cacheNoCache, -1},
		{"checkpoints/00000000000000000001", text, cacheImmutable, -1},
		{"checkpoints/00000000000000000004", text, cacheImmutable, -1},
		{"tile/0/000", octet, cacheImmutable, 256 * 32},
		{"tile/0/001", octet, cacheImmutable, 256 * 32},
		{"tile/0/002.p/188", octet, cacheNoCache, 188 * 32},
		{"tile/0/001.p/44", octet, cacheNoCache, 44 * 32}, // from the checkpoint at 300
		{"tile/1/000.p/2", octet, cacheNoCache, 2 * 32},
		{"tile/entries/000", octet, cacheImmutable, 256 * 34},
		{"tile/entries/002.p/188", octet, cacheNoCache, 188 * 34},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := serve(h, http.MethodGet, "/"+tt.path)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d", tt.path, w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			if got := w.Header().Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if !bytes.Equal(w.Body.Bytes(), readFile(t, tl.path(tt.path))) {
				t.Error("body is not the file")
			}
			if tt.size >= 0 && w.Body.Len() != tt.size {
				t.Errorf("size %d, want %d", w.Body.Len(), tt.size)
			}
			// Without the leading slash too (a handler mounted without StripPrefix's slash).
			if w := serve(h, http.MethodHead, "/"+tt.path); w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Errorf("HEAD %s: %d, %d bytes", tt.path, w.Code, w.Body.Len())
			}
		})
	}
	if w := serve(h, http.MethodPost, "/checkpoint"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	// Range requests work (a client may fetch part of a tile).
	req := httptest.NewRequest(http.MethodGet, "/tile/0/000", nil)
	req.Header.Set("Range", "bytes=32-63")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), readFile(t, tl.path("tile/0/000"))[32:64]) {
		t.Errorf("Range: %d", w.Code)
	}
}

func TestLedgerHandlerRefusesPrivateAndOddPaths(t *testing.T) {
	tl := buildLedger(t)
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "000"), []byte("outside the ledger"))
	secret := readFile(t, tl.path("key"))

	// Planted files and links (someone with write access to the ledger
	// directory, or a restore gone wrong): a name that is public, but
	// whose file is a link to a private one or out of the directory.
	mustLink := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, tl.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	mustLink("../../key", "tile/0/005")
	mustLink("../key", "checkpoints/00000000000000000009")
	mustLink(outside, "tile/3")
	mustLink("../log", "tile/4")
	if err := os.MkdirAll(tl.path("private"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tl.path("private/000"), secret)
	mustLink("../private", "tile/5")
	writeFile(t, tl.path("tile/0/000.tmp"), secret)
	writeFile(t, tl.path("checkpoint.tmp"), secret)
	// An oversized file under a public name is not a ledger file.
	writeFile(t, tl.path("tile/0/006"), make([]byte, 256*32+1))

	h := LedgerHandler(tl.dir)
	paths := []string{
		"/", "", "/key", "/key.pub", "/log/", "/log/00000000000000000000",
		"/payloads/00000000000000000000", "/payloads/",
		"/../key", "/%2e%2e/key", "/tile/../key", "/tile/0/../../key", "/tile/0/..%2f..%2fkey",
		"/tile/%2e%2e/%2e%2e/key", "/checkpoints/../key", "/checkpoints/..%2fkey",
		"/./checkpoint", "//checkpoint", "/checkpoint/", "/checkpoint.tmp", "/tile/0/000.tmp",
		"/checkpoints/", "/checkpoints", "/checkpoints/1", "/checkpoints/0000000000000000000x",
		"/checkpoints/00000000000000000001.tmp", "/checkpoints/00000000000000000009",
		"/tile/", "/tile/0/", "/tile/0", "/tile/0/0", "/tile/0/00", "/tile/0/0000", "/tile/0/x000/000",
		"/tile/00/000", "/tile/-1/000", "/tile/8/0/000", "/tile/data/000", "/tile/entries/",
		"/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/0/000.p/05", "/tile/0/000.p/", "/tile/0/000/",
		"/tile/0/005", "/tile/3/000", "/tile/4/000", "/tile/5/000", "/tile/0/006",
		"/tile/0/000\x00", "/TILE/0/000", "/Checkpoint",
	}
	for _, p := range paths {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = p // the decoded path, as a server hands it over
		if strings.Contains(p, "%") {
			req = httptest.NewRequest(http.MethodGet, p, nil)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %q: %d, want 404", p, w.Code)
		}
		if w.Header().Get("Cache-Control") != cacheNoCache {
			t.Errorf("GET %q: a 404 may be cached", p)
		}
		if body := w.Body.Bytes(); bytes.Contains(body, secret[:20]) || bytes.Contains(body, []byte("outside")) {
			t.Errorf("GET %q leaked a private file", p)
		}
	}

	// The same attacks through a real server and client, with raw paths.
	base, client := serveLedger(t, h)
	for _, p := range []string{"key", "..%2fkey", "%2e%2e/key", "tile/0/%2e%2e%2f%2e%2e%2fkey", "log/00000000000000000000", "tile/4/000", "tile/0/005"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, secret[:20]) {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	resp, err := client.Get(base + "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET checkpoint over TLS: %d", resp.StatusCode)
	}
}

func TestParseTilePathRoundTrips(t *testing.T) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/234", "tile/2/x001/x002/003.p/7", "tile/entries/x123/456.p/255", "tile/entries/000"} {
		tile, ok := parseTilePath(p)
		if !ok || tilePath(tile) != p {
			t.Errorf("parseTilePath(%q) = %v, %v", p, tile, ok)
		}
	}
}
