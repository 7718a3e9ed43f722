package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-vault/coffer/internal/auth"
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
	k, err := a.store.GetAccessKey(ctx, accessKeyID)
	if err != nil {
		return policy.Principal{}, fmt.Errorf("access key: %w", err)
	}
	p := policy.Principal{User: k.Owner, AccessKeyID: k.ID}
	u, err := a.store.GetUser(ctx, k.Owner)
	switch {
	case err == nil:
		if a.now().Before(u.LockedUntil) {
			return policy.Principal{}, &errDenied{"the key's owner is locked"}
		}
		if p.Roles, err = auth.EffectiveRoles(ctx, a.store, u); err != nil {
			return policy.Principal{}, err
		}
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
