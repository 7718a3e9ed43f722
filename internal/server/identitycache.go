package server

import (
	"context"
	"slices"
	"sync"

	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/meta"
)

// identityCache keeps the access key and user records the S3 plane reads
// on every request (two SQLite reads were most of a request's fixed cost,
// see BenchmarkSigV4Authz). It has no time-to-live: each entry is tagged
// with the store's write generation read before the record was, and is
// used only while that generation is still current, so any write to the
// metadata store (a deleted key, a locked owner, new roles or groups, but
// also an unrelated object write) sends the next request to the store.
// Time-dependent checks (key expiry, lock expiry) are still made on every
// request against the cached record.
type identityCache struct {
	gen func() uint64

	mu    sync.Mutex
	keys  map[string]cachedKey
	users map[string]cachedUser
}

type cachedKey struct {
	gen uint64
	k   meta.AccessKey
}

type cachedUser struct {
	gen   uint64
	u     meta.User
	roles []string
}

// maxCachedIdentities bounds each map; past it the map starts over.
const maxCachedIdentities = 4096

// newIdentityCache returns a cache over store, or nil (no caching) when
// the store offers no write generation.
func newIdentityCache(store any) *identityCache {
	g, ok := store.(interface{ WriteGeneration() uint64 })
	if !ok {
		return nil
	}
	return &identityCache{gen: g.WriteGeneration}
}

// accessKey returns key id, from the cache while nothing was written since
// it was read.
func (c *identityCache) accessKey(ctx context.Context, store interface {
	GetAccessKey(ctx context.Context, id string) (meta.AccessKey, error)
}, id string) (meta.AccessKey, error) {
	if c == nil {
		return store.GetAccessKey(ctx, id)
	}
	g := c.gen()
	c.mu.Lock()
	e, ok := c.keys[id]
	c.mu.Unlock()
	if ok && e.gen == g {
		return e.k, nil
	}
	k, err := store.GetAccessKey(ctx, id)
	if err != nil {
		return k, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedIdentities {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[id] = cachedKey{gen: g, k: k}
	c.mu.Unlock()
	return k, nil
}

// user returns a user record and its effective roles (own and groups').
func (c *identityCache) user(ctx context.Context, store interface {
	GetUser(ctx context.Context, name string) (meta.User, error)
	ListGroups(ctx context.Context) ([]meta.Group, error)
}, name string) (meta.User, []string, error) {
	var g uint64
	if c != nil {
		g = c.gen()
		c.mu.Lock()
		e, ok := c.users[name]
		c.mu.Unlock()
		if ok && e.gen == g {
			return e.u, slices.Clone(e.roles), nil
		}
	}
	u, err := store.GetUser(ctx, name)
	if err != nil {
		return u, nil, err
	}
	roles, err := auth.EffectiveRoles(ctx, store, u)
	if err != nil {
		return u, nil, err
	}
	if c != nil {
		c.mu.Lock()
		if c.users == nil || len(c.users) >= maxCachedIdentities {
			c.users = make(map[string]cachedUser)
		}
		c.users[name] = cachedUser{gen: g, u: u, roles: slices.Clone(roles)}
		c.mu.Unlock()
	}
	return u, roles, nil
}
