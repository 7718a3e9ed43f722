package s3api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Nothing reaches the client before Before has run, whichever way the
// handler starts its response, and a replaced response keeps nothing of
// the handler's.
func TestResponseGate(t *testing.T) {
	starts := map[string]func(w http.ResponseWriter){
		"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
		"Write":       func(w http.ResponseWriter) { w.Write([]byte("secret body")) },
		"Flush":       func(w http.ResponseWriter) { w.(http.Flusher).Flush() },
		"ResponseController.Flush": func(w http.ResponseWriter) {
			http.NewResponseController(w).Flush()
		},
	}
	for name, start := range starts {
		for _, allow := range []bool{true, false} {
			rec := httptest.NewRecorder()
			g := &ResponseGate{ResponseWriter: rec}
			called := 0
			g.Before = func(status int) bool {
				called++
				if rec.Flushed || rec.Body.Len() > 0 {
					t.Errorf("%s: the response started before Before", name)
				}
				if !allow {
					g.WriteHeader(http.StatusServiceUnavailable)
					g.Write([]byte("replaced"))
				}
				return allow
			}
			start(g)
			_, err := g.Write([]byte("more"))
			if called != 1 {
				t.Errorf("%s: Before called %d times, want 1", name, called)
			}
			if allow {
				if err != nil || g.Replaced() || g.Status() != http.StatusOK {
					t.Errorf("%s allowed: err %v, replaced %v, status %d", name, err, g.Replaced(), g.Status())
				}
				continue
			}
			if !errors.Is(err, ErrResponseReplaced) || !g.Replaced() || rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "replaced" {
				t.Errorf("%s replaced: err %v, code %d, body %q", name, err, rec.Code, rec.Body.String())
			}
		}
	}
}
