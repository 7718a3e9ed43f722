package server

// The server's side of the audit ledger: opening it under DATA_DIR/audit
// with payload keys wrapped by the root key, enriching and recording the
// events of the S3 plane (s3api.Auditor), recording every admin request
// (adminAudit), and system events. The ledger is fail-closed: a request
// whose event cannot be made durable gets 503 and has no effect, and
// /health reports unhealthy.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/audit/export"
	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/s3api"
	"github.com/coffer-vault/coffer/internal/scan"
	"github.com/coffer-vault/coffer/internal/seal"
)

// LedgerDir is the audit ledger's directory inside a data directory.
func LedgerDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// LedgerSealer returns the payload sealer of the ledger in dataDir: per
// subject keys under audit-keys/, wrapped by a key derived from the root
// key. Offline tools (coffer audit verify DATA_DIR) use it too.
func LedgerSealer(dataDir string, root seal.RootKey) (*audit.DirSealer, error) {
	w, err := seal.NewKeyWrapper(root, "audit/subject-keys")
	if err != nil {
		return nil, err
	}
	return audit.NewDirSealerWrapped(filepath.Join(dataDir, "audit-keys"), w)
}

// ledger records events for the server.
type ledger struct {
	log       *audit.Log
	sealer    audit.Sealer
	store     meta.Store
	cache     *identityCache // nil: read the store every time
	slog      *slog.Logger
	followers []*export.Follower // search indexer and exporters
	purges    chan indexPurge    // erasures waiting to re-purge the search index
}

// openLedger opens (or creates) the ledger. created reports a new signing
// key, whose public half the operator should note.
func openLedger(ctx context.Context, cfg Config, root seal.RootKey, store meta.Store, log *slog.Logger) (_ *ledger, created bool, err error) {
	dir, dataDir := cfg.AuditDir, cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("audit ledger: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "key")); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	sealer, err := LedgerSealer(dataDir, root)
	if err != nil {
		return nil, false, err
	}
	opts := audit.Options{Sealer: sealer, Logger: log, PreallocBytes: preallocFor(dir),
		Witnesses: cfg.Witnesses, WitnessQuorum: cfg.WitnessQuorum}
	if len(cfg.Witnesses) > 0 {
		if opts.WitnessHTTPClient, err = witnessClient(cfg.WitnessCAFile); err != nil {
			return nil, false, err
		}
	}
	l, err := audit.Open(ctx, dir, opts)
	if err != nil {
		return nil, false, fmt.Errorf("audit ledger: %w", err)
	}
	return &ledger{log: l, sealer: sealer, store: store, slog: log, purges: make(chan indexPurge, maxPendingPurges)}, created, nil
}

// preallocFor sizes the ledger's segment preallocation to the volume: a
// sixty-fourth of the free space, between 256 KiB and 16 MiB, so that a
// small volume is not filled by zeros while a large one gets the full
// head start that lets commits use fdatasync alone.
func preallocFor(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0 // the ledger's default
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	return min(max(free/64, 256<<10), 16<<20)
}

// errLedger wraps a failure to record: the request must fail with 503.
var errLedger = errors.New("the audit ledger cannot record this request, so it was not carried out")

// Record implements s3api.Auditor: it names the access key's owner and
// returns once the event is durable. The key record comes from the
// request's memo (SigV4 verification read it) or the identity cache, not
// a second store read per event.
func (l *ledger) Record(ctx context.Context, ev audit.Event) error {
	if ev.Actor.User == "" && ev.Actor.AccessKeyID != "" {
		if k, err := getAccessKey(ctx, l.cache, l.store, ev.Actor.AccessKeyID); err == nil {
			ev.Actor.User = k.Owner
			ev.Actor.MFA = !k.MFAAt.IsZero()
		}
	}
	if _, err := l.log.Append(ctx, ev); err != nil {
		l.slog.Error("audit append failed", "action", ev.Action, "request_id", ev.RequestID, "err", err)
		return fmt.Errorf("%w: %w", errLedger, err)
	}
	return nil
}

// system records a system event (start, stop, rotation, ...).
func (l *ledger) system(ctx context.Context, action, resource, reason string) error {
	ev := audit.Event{
		Time: time.Now(), Action: action,
		Resource: audit.Resource{Admin: resource},
		Outcome:  audit.Outcome{Result: audit.ResultAllowed, Reason: reason},
	}
	return l.recordBounded(ctx, ev)
}

// healthy reports whether the ledger can append.
func (l *ledger) healthy() error {
	if err := l.log.Err(); err != nil {
		return fmt.Errorf("audit ledger: %w", err)
	}
	return nil
}

// adminAudit is the audit state of one admin request: the event being
// built (the authorization funnels and handlers fill in the actor, action
// and resource) and whether it has been recorded.
type adminAudit struct {
	ev       audit.Event
	recorded bool // an event for the request is durable
	intent   bool // ... and it is the permission of a request that then ran
	code     string
}

type adminAuditKey struct{}

// auditOf returns the request's audit state (a throwaway one outside the
// admin middleware, so callers never check for nil).
func auditOf(r *http.Request) *adminAudit {
	if a, ok := r.Context().Value(adminAuditKey{}).(*adminAudit); ok {
		return a
	}
	return &adminAudit{recorded: true}
}

// unauthenticatedActions names the admin endpoints that need no session.
var unauthenticatedActions = map[string]string{
	"POST /admin/v1/setup":  "auth:Setup",
	"POST /admin/v1/login":  "auth:Login",
	"POST /admin/v1/logout": "auth:Logout",
}

// adminMiddleware records every admin request: a permitted mutating
// request when it is authorized (intent, see permit), everything else when
// its response starts. A failure to record answers 503.
func (l *ledger) adminMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aa := &adminAudit{ev: audit.Event{
			Time:      time.Now(),
			RequestID: randomID(),
			Actor: audit.Actor{
				SourceIP:  s3api.RemoteIP(r),
				UserAgent: audit.Clean(r.UserAgent(), 256),
			},
		}}
		w.Header().Set("X-Request-Id", aa.ev.RequestID)
		r = r.WithContext(context.WithValue(r.Context(), adminAuditKey{}, aa))
		aw := &auditWriter{ResponseGate: &s3api.ResponseGate{ResponseWriter: w}, aa: aa}
		aw.Before = func(status int) bool {
			if aa.recorded && !(aa.intent && status >= 400) {
				return true
			}
			ev := aa.ev
			ev.Time = time.Now()
			if ev.Action == "" {
				ev.Action = unauthenticatedActions[r.Pattern]
			}
			if ev.Action == "" {
				ev.Action = "admin:Unknown"
				ev.Resource.Admin = audit.Clean(r.Method+" "+r.URL.Path, 512)
			}
			switch {
			case status < 400:
				ev.Outcome = audit.Outcome{Result: audit.ResultAllowed}
			case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
				ev.Outcome = audit.Outcome{Result: audit.ResultDenied, Reason: aa.code}
			default:
				ev.Outcome = audit.Outcome{Result: audit.ResultError, Reason: aa.code}
			}
			if ev.Outcome.Reason == "" && status >= 400 {
				ev.Outcome.Reason = http.StatusText(status)
			}
			aa.recorded, aa.intent = true, false
			if err := l.recordBounded(r.Context(), ev); err != nil {
				clear(aw.Header())
				aw.Header().Set("X-Request-Id", aa.ev.RequestID)
				writeJSONError(aw, http.StatusServiceUnavailable, "AuditUnavailable", errLedger.Error())
				return false
			}
			return true
		}
		next.ServeHTTP(aw, r)
		if !aw.Started() {
			aw.WriteHeader(http.StatusOK)
		}
	})
}

// permit records the permission of a mutating admin request before it
// runs. It writes the 503 and returns false when the ledger cannot.
func (l *ledger) permit(w http.ResponseWriter, r *http.Request) bool {
	aa := auditOf(r)
	if aa.recorded || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	ev := aa.ev
	ev.Time = time.Now()
	ev.Outcome = audit.Outcome{Result: audit.ResultAllowed}
	if err := l.recordBounded(r.Context(), ev); err != nil {
		aa.recorded = true // nothing more can be recorded
		writeJSONError(w, http.StatusServiceUnavailable, "AuditUnavailable", errLedger.Error())
		return false
	}
	aa.recorded, aa.intent = true, true
	return true
}

func (l *ledger) recordBounded(ctx context.Context, ev audit.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return l.Record(ctx, ev)
}

// describe fills the actor, action and resource of an admin request once
// it is authenticated.
func (aa *adminAudit) describe(action, resource string) {
	aa.ev.Action = action
	aa.ev.Resource.Admin = audit.Clean(resource, 512)
}

// sessionActor names a session-authenticated actor.
func (aa *adminAudit) sessionActor(r *http.Request, id auth.Identity) {
	aa.ev.Actor.User = id.User
	aa.ev.Actor.MFA = id.MFA
	if t := bearer(r); t != "" {
		aa.ev.Actor.SessionID = sessionID(auth.HashSessionToken(t))
	}
}

// auditWriter is the admin plane's response gate, carrying the request's
// audit state for noteCode.
type auditWriter struct {
	*s3api.ResponseGate
	aa *adminAudit
}

// noteCode lets writeJSONError tell the audit middleware the error code.
func noteCode(w http.ResponseWriter, code string) {
	if aw, ok := w.(*auditWriter); ok && !aw.Started() {
		aw.aa.code = code
	}
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// indexPurge is a pending re-purge of subject's rows from the search index,
// due once the indexer has passed size (the ledger size at the erasure).
type indexPurge struct {
	subject string
	size    int64
}

// maxPendingPurges bounds the erasures whose re-purge waits for the
// indexer; past it an erasure is refused (503) until the worker catches up.
const maxPendingPurges = 64

// schedulePurge queues the re-purge of an erasure. It reports false when
// the queue is full.
func (l *ledger) schedulePurge(subject string, size int64) bool {
	select {
	case l.purges <- indexPurge{subject, size}:
		return true
	default:
		return false
	}
}

// purgeLoop runs the queued re-purges until ctx ends (server shutdown),
// then the ones still queued at once.
func (l *ledger) purgeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case p := <-l.purges:
					l.purgeIndexAfter(ctx, p.subject, p.size)
				default:
					return
				}
			}
		case p := <-l.purges:
			l.purgeIndexAfter(ctx, p.subject, p.size)
		}
	}
}

// purgeIndexAfter drops subject's rows from the search index again once
// the indexer has passed size, so that a batch it read just before the
// erasure does not leave them behind. It waits at most five minutes, and
// not past ctx.
func (l *ledger) purgeIndexAfter(ctx context.Context, subject string, size int64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		caughtUp := true
		for _, f := range l.followers {
			if st := f.Status(); st.Sink == "search-index" && st.Cursor < size && st.Running {
				caughtUp = false
			}
		}
		if caughtUp {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := l.store.DeleteAuditActor(context.WithoutCancel(ctx), subject); err != nil {
		l.slog.Error("audit erase: search index purge", "err", err)
	}
}

// labels records what scanning found in an object version (types and
// confidence, never values) as a scan:Classify event, when it found
// something.
func (l *ledger) labels(ctx context.Context, bucket, key, version string, labels []meta.Label) {
	if len(labels) == 0 {
		return // nothing found: the upload's own event says enough
	}
	ev := audit.Event{
		Time: time.Now(), Action: "scan:Classify",
		Resource: audit.Resource{Bucket: audit.Clean(bucket, 1024), Key: audit.Clean(key, 1024), Version: audit.Clean(version, 1024)},
		Outcome:  audit.Outcome{Result: audit.ResultAllowed},
	}
	ev.Labels = make(map[string]string, len(labels))
	for _, lb := range labels {
		ev.Labels[audit.Clean(lb.Type, 1024)] = scan.Confidence(lb.Confidence).String()
	}
	if err := l.recordBounded(ctx, ev); err != nil {
		l.slog.Error("audit: record scan labels", "bucket", bucket, "key", key, "err", err)
	}
}

// locked records that failed logins locked user's account (auth:Lock).
// The refused attempts are recorded by the login requests themselves.
func (l *ledger) locked(ctx context.Context, user string, until time.Time) {
	ev := audit.Event{
		Time: time.Now(), Action: "auth:Lock",
		Actor:    audit.Actor{User: audit.Clean(user, 128)},
		Resource: audit.Resource{Admin: audit.Clean("user:"+user, 512)},
		Outcome:  audit.Outcome{Result: audit.ResultAllowed, Reason: "too many failed logins; locked until " + until.UTC().Format(time.RFC3339)},
	}
	if err := l.recordBounded(ctx, ev); err != nil {
		l.slog.Error("audit: record account lock", "user", user, "err", err)
	}
}
