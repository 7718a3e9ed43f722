package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-vault/coffer/internal/meta"
)

// fakeIdentityStore counts reads and has a settable write generation.
type fakeIdentityStore struct {
	gen   atomic.Uint64
	reads atomic.Int64
	roles []string
}

func (f *fakeIdentityStore) WriteGeneration() uint64 { return f.gen.Load() }
func (f *fakeIdentityStore) GetAccessKey(_ context.Context, id string) (meta.AccessKey, error) {
	f.reads.Add(1)
	return meta.AccessKey{ID: id, Owner: "ann"}, nil
}
func (f *fakeIdentityStore) GetUser(_ context.Context, name string) (meta.User, error) {
	f.reads.Add(1)
	return meta.User{Name: name, Roles: f.roles}, nil
}
func (f *fakeIdentityStore) ListGroups(context.Context) ([]meta.Group, error) { return nil, nil }

func TestIdentityCacheFollowsTheGeneration(t *testing.T) {
	ctx := context.Background()
	f := &fakeIdentityStore{roles: []string{"viewer"}}
	c := newIdentityCache(f)
	for range 3 {
		c.accessKey(ctx, f, "K")
		c.user(ctx, f, "ann")
	}
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("%d reads for three lookups of each at one generation, want 2", n)
	}
	f.roles = []string{"uploader"}
	f.gen.Add(1) // a write
	_, roles, _ := c.user(ctx, f, "ann")
	c.accessKey(ctx, f, "K")
	if n := f.reads.Load(); n != 4 || strings.Join(roles, ",") != "uploader" {
		t.Fatalf("after a write: %d reads, roles %v; want 4 and the new roles", n, roles)
	}
	roles[0] = "admin" // callers cannot change the cached roles
	if _, again, _ := c.user(ctx, f, "ann"); again[0] != "uploader" {
		t.Fatalf("cached roles changed through a returned slice: %v", again)
	}
	if newIdentityCache(struct{}{}) != nil {
		t.Fatal("a cache over a store without a generation")
	}
}

// TestIdentityCacheNeverStale: with the S3 plane's key and owner records
// cached, every identity change takes effect on the very next request:
// a lock, an unlock, new roles, a group's roles, a revoked key.
func TestIdentityCacheNeverStale(t *testing.T) {
	s := startTestServer(t, "")
	ctx := context.Background()
	admin := setupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s))
	if err := boot.MakeBucket(ctx, "footage", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.PutObject(ctx, "footage", "a", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	addUser(t, s, admin, "vic", "viewer")
	vic, _ := loginMFA(t, s, "vic")
	creds := newKey(t, s, vic, map[string]any{})
	mc := minioClient(t, s, creds)
	read := func() error {
		_, err := mc.StatObject(ctx, "footage", "a", minio.StatObjectOptions{})
		return err
	}
	step := func(what string, method, path string, body any, wantRead bool) {
		t.Helper()
		if method != "" {
			if st, code := callInto(t, s, method, path, admin, body, nil); st >= 300 {
				t.Fatalf("%s: %d %s", what, st, code)
			}
		}
		if got := s3Allowed(t, what, read()); got != wantRead {
			t.Fatalf("after %s: read allowed=%v, want %v", what, got, wantRead)
		}
	}
	step("warm up", "", "", nil, true)
	step("warm up again", "", "", nil, true)
	step("lock", "POST", "/admin/v1/users/vic/lock", nil, false)
	step("unlock", "POST", "/admin/v1/users/vic/unlock", nil, true)
	step("roles: uploader", "PUT", "/admin/v1/users/vic/roles", map[string]any{"roles": []string{"uploader"}}, false)
	step("group of readers", "PUT", "/admin/v1/groups/readers", map[string]any{"roles": []string{"viewer"}}, false)
	step("joins readers", "PUT", "/admin/v1/users/vic/groups", map[string]any{"groups": []string{"readers"}}, true)
	step("readers become uploaders", "PUT", "/admin/v1/groups/readers", map[string]any{"roles": []string{"uploader"}}, false)
	if st, code := callInto(t, s, "PUT", "/admin/v1/groups/readers", admin, map[string]any{"roles": []string{"viewer"}}, nil); st != 204 {
		t.Fatalf("readers: %d %s", st, code)
	}
	step("readers read again", "", "", nil, true)
	// vic revokes the key in her own session (she now holds no MFA-at-login role).
	vic, _ = loginMFA(t, s, "vic")
	if st, code := callInto(t, s, "DELETE", "/admin/v1/access-keys/"+creds.AccessKey, vic, nil, nil); st != 204 {
		t.Fatalf("revoke: %d %s", st, code)
	}
	// A GET, not a HEAD, so the reply carries the error code.
	o, err := mc.GetObject(ctx, "footage", "a", minio.GetObjectOptions{})
	if err == nil {
		_, err = o.Read(make([]byte, 1))
	}
	if minio.ToErrorResponse(err).Code != "InvalidAccessKeyId" {
		t.Fatalf("a revoked key still authenticates: %v", err)
	}
}
