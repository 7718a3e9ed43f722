package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/coffer-vault/coffer/internal/meta"
)

// keyMemo carries, for one request, the access key record that SigV4
// verification read, so that the authorization of the same request does
// not read it again (a SQLite read is most of an S3 request's fixed cost;
// see BenchmarkSigV4Authz). It lives exactly as long as the request: a key
// deleted or changed afterwards is seen by the next request.
type keyMemo struct {
	mu  sync.Mutex
	key meta.AccessKey
	ok  bool
}

type keyMemoKey struct{}

// withKeyMemo gives every request an empty memo.
func withKeyMemo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyMemoKey{}, &keyMemo{})))
	})
}

// rememberKey records k for the rest of the request, when ctx has a memo.
func rememberKey(ctx context.Context, k meta.AccessKey) {
	if m, ok := ctx.Value(keyMemoKey{}).(*keyMemo); ok {
		m.mu.Lock()
		m.key, m.ok = k, true
		m.mu.Unlock()
	}
}

// getAccessKey returns key id from the request's memo, or from the cache
// (nil: none) or the store.
func getAccessKey(ctx context.Context, cache *identityCache, store interface {
	GetAccessKey(ctx context.Context, id string) (meta.AccessKey, error)
}, id string) (meta.AccessKey, error) {
	if m, ok := ctx.Value(keyMemoKey{}).(*keyMemo); ok {
		m.mu.Lock()
		k, hit := m.key, m.ok && m.key.ID == id
		m.mu.Unlock()
		if hit {
			return k, nil
		}
	}
	return cache.accessKey(ctx, store, id)
}
