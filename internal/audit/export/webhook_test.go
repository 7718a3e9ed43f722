package export

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

var secret = bytes.Repeat([]byte("k"), 32)

// receiver is a webhook endpoint that verifies every request and answers
// with the statuses it is told to, then 200.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []Record
	rejected []error
	requests int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	recs, err := VerifyRequest(r, secret, time.Now(), 0)
	if err != nil {
		rc.rejected = append(rc.rejected, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if len(rc.statuses) > 0 {
		s := rc.statuses[0]
		rc.statuses = rc.statuses[1:]
		if s == http.StatusFound {
			w.Header().Set("Location", "https://elsewhere.invalid/")
		}
		w.WriteHeader(s)
		return
	}
	if r.Header.Get("Idempotency-Key") != strconv.FormatInt(recs[0].Index, 10)+"-"+strconv.FormatInt(recs[len(recs)-1].Index, 10) {
		http.Error(w, "bad idempotency key", http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, recs...)
}

func newReceiver(t *testing.T, statuses ...int) (*receiver, *httptest.Server, *tls.Config) {
	t.Helper()
	rc := &receiver{statuses: statuses}
	srv := httptest.NewTLSServer(rc)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return rc, srv, &tls.Config{RootCAs: pool}
}

func TestWebhookRetriesThenDeliversInOrder(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 100)
	if err := l.log.Erase(t.Context(), "carol"); err != nil {
		t.Fatal(err)
	}
	rc, srv, tlsConf := newReceiver(t, 503, 500, 429, 408, 502)
	sink, err := NewWebhook(WebhookConfig{URL: srv.URL + "/audit?token=x", Secret: secret, TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runUntil(t, l, t.TempDir(), sink, 99, Options{MaxBatch: 30})
	checkSequence(t, rc.got, 100, "carol")
	if rc.requests != 5+4 || len(rc.rejected) != 0 {
		t.Fatalf("%d requests, %d rejected", rc.requests, len(rc.rejected))
	}
}

func TestWebhookPermanentErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		status int
	}{
		{"wrong secret", bytes.Repeat([]byte("x"), 32), 0},
		{"400", secret, http.StatusBadRequest},
		{"redirect not followed", secret, http.StatusFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger(t)
			l.appendN(t, 0, 10)
			var statuses []int
			if tc.status != 0 {
				statuses = []int{tc.status}
			}
			rc, srv, tlsConf := newReceiver(t, statuses...)
			sink, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: tc.secret, TLS: tlsConf})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			state := t.TempDir()
			f, _ := NewFollower(l.dir, l.sealer, state, sink, Options{Source: l.log, sleep: noSleep})
			if err := f.Run(t.Context()); !errors.Is(err, ErrPermanent) {
				t.Fatalf("Run: %v", err)
			}
			if rc.requests != 1 || len(rc.got) != 0 {
				t.Fatalf("%d requests, %d records accepted", rc.requests, len(rc.got))
			}
			if tc.secret[0] == 'x' && (len(rc.rejected) != 1 || !errors.Is(rc.rejected[0], ErrBadSignature)) {
				t.Fatalf("receiver did not detect the wrong MAC: %v", rc.rejected)
			}
			if cur, _ := ReadCursor(state, "webhook"); cur != 0 {
				t.Fatalf("cursor moved to %d", cur)
			}
		})
	}
}

func TestVerifySignatureRefusesTamperingAndReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"records":[{"index":1}]}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, ts, body)
	if err := VerifySignature(secret, ts, sig, body, now, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		wantError error
	}{
		{"body changed", secret, ts, sig, []byte(`{"records":[{"index":2}]}`), now, ErrBadSignature},
		{"timestamp changed (MAC covers it)", secret, strconv.FormatInt(now.Unix()+60, 10), sig, body, now, ErrBadSignature},
		{"wrong secret", bytes.Repeat([]byte("z"), 32), ts, sig, body, now, ErrBadSignature},
		{"no prefix", secret, ts, sig[len("sha256="):], body, now, ErrBadSignature},
		{"empty", secret, "", "", body, now, ErrBadSignature},
		{"replayed after the window", secret, ts, sig, body, now.Add(DefaultTolerance + time.Second), ErrStaleTimestamp},
		{"from the future", secret, ts, sig, body, now.Add(-DefaultTolerance - time.Second), ErrStaleTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifySignature(tc.secret, tc.ts, tc.sig, tc.body, tc.now, 0); !errors.Is(err, tc.wantError) {
				t.Fatalf("got %v, want %v", err, tc.wantError)
			}
		})
	}
}

func TestWebhookConfigRefusals(t *testing.T) {
	for _, c := range []WebhookConfig{
		{URL: "http://127.0.0.1/", Secret: secret},
		{URL: "https://127.0.0.1/", Secret: secret[:16]},
		{URL: "://", Secret: secret},
	} {
		if _, err := NewWebhook(c); err == nil {
			t.Fatalf("accepted %q with %d-byte secret", c.URL, len(c.Secret))
		}
	}
}
