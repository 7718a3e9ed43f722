package s3api

import (
	"errors"
	"net/http"
)

// ResponseGate holds a response back until its audit event is durable;
// the S3 plane (audit.go) and the server's admin plane both answer
// through one. It also remembers whether and with which status the
// response started.
type ResponseGate struct {
	http.ResponseWriter
	// Before, when set, is called once, just before the response starts
	// (its status known, no header sent yet). It may answer in place of
	// the handler, through the gate (Before is cleared by then), and
	// return false: the handler's own writes are then dropped and Write
	// fails with ErrResponseReplaced.
	Before func(status int) bool

	status            int
	started, replaced bool
}

// ErrResponseReplaced is returned to a handler whose response was replaced.
var ErrResponseReplaced = errors.New("response replaced (audit)")

// Status is the status the response started with, 0 before it started.
func (w *ResponseGate) Status() int { return w.status }

// Started reports whether the response (or its replacement) started.
func (w *ResponseGate) Started() bool { return w.started }

// Replaced reports whether Before answered in place of the handler.
func (w *ResponseGate) Replaced() bool { return w.replaced }

func (w *ResponseGate) start(code int) bool {
	if w.replaced {
		return false
	}
	if !w.started && w.Before != nil {
		before := w.Before
		w.Before = nil
		if !before(code) {
			w.replaced = true
			return false
		}
	}
	if !w.started {
		w.status, w.started = code, true
	}
	return true
}

func (w *ResponseGate) WriteHeader(code int) {
	if w.start(code) {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *ResponseGate) Write(p []byte) (int, error) {
	if !w.started && !w.start(http.StatusOK) || w.replaced {
		return 0, ErrResponseReplaced
	}
	return w.ResponseWriter.Write(p)
}

// Flush starts the response through the gate (streaming responses), so
// that http.ResponseController, which finds this method before Unwrap,
// cannot send headers past Before.
func (w *ResponseGate) Flush() {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *ResponseGate) Unwrap() http.ResponseWriter { return w.ResponseWriter }
