package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/s3api"
	"github.com/coffer-vault/coffer/internal/vault"
)

// keyAuthz turns an access key into a policy principal and asks the engine,
// for the S3 plane and the SigV4 half of the admin plane alike.
type keyAuthz struct {
	store  meta.Store
	engine *policy.Engine
	now    func() time.Time
	// labels, when set, gives object decisions object.labels and
	// object.size (scanapi.go).
	labels func(ctx context.Context, bucket, key string) (vault.ObjectLabels, error)
	log    *slog.Logger // nil: slog.Default()
	// cache, when set, keeps key and owner records between writes.
	cache *identityCache

	mu sync.Mutex
	// touched is when each key's LastUsed was last written: at most one
	// metadata write per key per lastUsedEvery, whatever the request rate.
	touched map[string]time.Time
	// narrow caches the compiled inline policies of access keys (a key's
	// policy never changes; the document is compared anyway).
	narrow map[string]compiledKeyPolicy
}

type compiledKeyPolicy struct {
	doc string
	c   *policy.Compiled
}

// Bounds of keyAuthz's in-memory state.
const (
	// lastUsedEvery is how often a busy key's last-used time is written.
	lastUsedEvery = time.Minute
	// maxTouched and maxNarrow bound the maps; past them stale entries are
	// dropped (touched) or the cache starts over (narrow).
	maxTouched = 10_000
	maxNarrow  = 4_096
)

// touch records that key id authenticated a request at now, unless it was
// recorded less than lastUsedEvery ago. A failed write is logged and
// retried by a later request; it never fails the request.
func (a *keyAuthz) touch(ctx context.Context, id string, now time.Time) {
	a.mu.Lock()
	if last, ok := a.touched[id]; ok && now.Sub(last) < lastUsedEvery && !now.Before(last) {
		a.mu.Unlock()
		return
	}
	if a.touched == nil {
		a.touched = make(map[string]time.Time)
	}
	if len(a.touched) >= maxTouched {
		for k, t := range a.touched {
			if now.Sub(t) >= lastUsedEvery || now.Before(t) {
				delete(a.touched, k)
			}
		}
		if len(a.touched) >= maxTouched {
			clear(a.touched) // more keys in a minute than the bound: write more often
		}
	}
	a.touched[id] = now
	a.mu.Unlock()
	if err := a.store.TouchAccessKey(ctx, id, now.UTC()); err != nil {
		a.mu.Lock()
		if a.touched[id].Equal(now) {
			delete(a.touched, id)
		}
		a.mu.Unlock()
		if !errors.Is(err, meta.ErrNoSuchAccessKey) {
			a.logger().Warn("record access key use", "access_key", id, "err", err)
		}
	}
}

func (a *keyAuthz) logger() *slog.Logger {
	if a.log == nil {
		return slog.Default()
	}
	return a.log
}

// keyPolicy returns the compiled inline policy of k (compiled once).
func (a *keyAuthz) keyPolicy(k meta.AccessKey) (*policy.Compiled, error) {
	a.mu.Lock()
	if e, ok := a.narrow[k.ID]; ok && e.doc == k.Policy {
		a.mu.Unlock()
		return e.c, nil
	}
	a.mu.Unlock()
	doc, err := policy.Parse([]byte(k.Policy))
	if err != nil {
		return nil, err
	}
	c, err := a.engine.Compile("key "+k.ID, doc)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.narrow == nil || len(a.narrow) >= maxNarrow {
		a.narrow = make(map[string]compiledKeyPolicy)
	}
	a.narrow[k.ID] = compiledKeyPolicy{doc: k.Policy, c: c}
	a.mu.Unlock()
	return c, nil
}

// errDenied carries the engine's reason; s3api logs it and answers AccessDenied.
type errDenied struct{ reason string }

func (e *errDenied) Error() string { return e.reason }

// principal resolves the access key's owner. Until the first admin user is
// set up, the bootstrap key's owner ("admin") has no user record: it acts
// with the admin role and, since nobody can have enrolled MFA yet, is not
// held to step-up. Setup hands the key to the new admin user, from then on
// it is that user's key like any other (dangerous actions then need a key
// minted with `coffer key create --mfa`).
func (a *keyAuthz) principal(ctx context.Context, accessKeyID string) (policy.Principal, error) {
	k, err := getAccessKey(ctx, a.cache, a.store, accessKeyID)
	if err != nil {
		return policy.Principal{}, fmt.Errorf("access key: %w", err)
	}
	a.touch(ctx, k.ID, a.now())
	p := policy.Principal{User: k.Owner, AccessKeyID: k.ID}
	if k.Policy != "" {
		// The key's inline policy can only take rights away (Decide asks
		// the roles AND it); one that no longer compiles allows nothing.
		if p.Narrow, err = a.keyPolicy(k); err != nil {
			a.logger().Error("access key policy refused", "access_key", k.ID, "err", err)
			return policy.Principal{}, &errDenied{"the access key's policy is not valid"}
		}
	}
	u, roles, err := a.cache.user(ctx, a.store, k.Owner)
	switch {
	case err == nil:
		if a.now().Before(u.LockedUntil) {
			return policy.Principal{}, &errDenied{"the key's owner is locked"}
		}
		p.Roles = roles
	case errors.Is(err, meta.ErrNoSuchUser) && k.Owner == adminOwner:
		p.Roles = []string{"admin"}
		p.MFA, p.MFAAt = true, a.now()
	case errors.Is(err, meta.ErrNoSuchUser):
		return policy.Principal{}, &errDenied{"the key's owner no longer exists"}
	default:
		return policy.Principal{}, err
	}
	if !k.MFAAt.IsZero() {
		p.MFA, p.MFAAt = true, k.MFAAt
	}
	return p, nil
}

// decide answers for one access key, action and resource.
func (a *keyAuthz) decide(ctx context.Context, accessKeyID, action, resource string) error {
	return a.decideObject(ctx, accessKeyID, action, resource, policy.Request{})
}

// decideObject is decide with the object's labels and size in req.
func (a *keyAuthz) decideObject(ctx context.Context, accessKeyID, action, resource string, req policy.Request) error {
	p, err := a.principal(ctx, accessKeyID)
	if err != nil {
		return err
	}
	req.Time, req.IP = a.now(), s3api.ClientIP(ctx)
	d := a.engine.Decide(p, action, resource, req)
	if !d.Allow {
		return &errDenied{d.Reason}
	}
	return nil
}

// s3 is s3api.Config.Authorize. Decisions on an existing object see its
// scan labels and size (objectRequest).
func (a *keyAuthz) s3(ctx context.Context, accessKeyID, action, bucket, key string) error {
	req, err := a.objectRequest(ctx, action, bucket, key)
	if err != nil {
		return err
	}
	return a.decideObject(ctx, accessKeyID, action, policy.S3Resource(bucket, key), req)
}
