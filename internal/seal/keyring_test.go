package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func testRoot(seed byte) RootKey {
	var k RootKey
	for i := range k {
		k[i] = seed ^ byte(i*31)
	}
	return k
}

func newTestKeyring(t *testing.T, store *memStore) *Keyring {
	t.Helper()
	k, err := NewKeyring(context.Background(), testRoot(1), store)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestNewKeyringCreatesVersion1(t *testing.T) {
	store := &memStore{}
	k := newTestKeyring(t, store)
	if got := k.Current(); got != 1 {
		t.Errorf("Current = %d, want 1", got)
	}
	if len(store.keks) != 1 || store.keks[0].Version != 1 || store.keks[0].Created.IsZero() {
		t.Fatalf("store holds %+v, want version 1", store.keks)
	}
	if n := len(store.keks[0].Wrapped); n != gcmNonceSize+kekSize+gcmTagSize {
		t.Errorf("wrapped KEK is %d bytes", n)
	}
	vs := k.Versions()
	if len(vs) != 1 || vs[0].Version != 1 || !vs[0].Current || !vs[0].Created.Equal(store.keks[0].Created) {
		t.Errorf("Versions = %+v", vs)
	}
}

func TestDEKWrapUnwrap(t *testing.T) {
	k := newTestKeyring(t, &memStore{})
	ad := []byte("blob-0001")
	dek, wrapped, err := k.NewDEK(ad)
	if err != nil {
		t.Fatal(err)
	}
	if dek == (DEK{}) {
		t.Fatal("NewDEK returned a zero DEK")
	}
	if len(wrapped) != wrapOverhead+len(dek) {
		t.Errorf("wrapped DEK is %d bytes, want %d", len(wrapped), wrapOverhead+len(dek))
	}
	if bytes.Contains(wrapped, dek[:8]) {
		t.Error("wrapped DEK contains the DEK")
	}
	if v, err := WrappedVersion(wrapped); err != nil || v != 1 {
		t.Errorf("WrappedVersion = %d, %v; want 1", v, err)
	}
	got, err := k.UnwrapDEK(wrapped, ad)
	if err != nil {
		t.Fatal(err)
	}
	if got != dek {
		t.Error("UnwrapDEK returned another key")
	}
	dek2, wrapped2, _ := k.NewDEK(ad)
	if dek2 == dek || bytes.Equal(wrapped, wrapped2) {
		t.Error("two NewDEK calls returned the same key or wrapping")
	}
}

func TestRotate(t *testing.T) {
	store := &memStore{}
	k := newTestKeyring(t, store)
	ctx := context.Background()
	dek1, w1, _ := k.NewDEK([]byte("a"))
	sealed1, _ := k.Seal([]byte("secret"), []byte("s"))

	v, err := k.Rotate(ctx)
	if err != nil || v != 2 || k.Current() != 2 {
		t.Fatalf("Rotate = %d, %v; Current = %d; want 2", v, err, k.Current())
	}
	if len(store.keks) != 2 {
		t.Fatalf("store holds %d KEKs, want 2", len(store.keks))
	}
	_, w2, _ := k.NewDEK([]byte("b"))
	if v, _ := WrappedVersion(w2); v != 2 {
		t.Errorf("new DEK wrapped under version %d, want 2", v)
	}
	if got, err := k.UnwrapDEK(w1, []byte("a")); err != nil || got != dek1 {
		t.Errorf("old wrapping after rotate: %v", err)
	}
	if got, err := k.Open(sealed1, []byte("s")); err != nil || string(got) != "secret" {
		t.Errorf("old sealed secret after rotate: %q, %v", got, err)
	}
	if v, _ := k.Rotate(ctx); v != 3 {
		t.Errorf("second Rotate = %d, want 3", v)
	}
	var got []int
	for _, info := range k.Versions() {
		got = append(got, info.Version)
		if info.Current != (info.Version == 3) {
			t.Errorf("version %d Current = %v", info.Version, info.Current)
		}
	}
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("Versions = %v, want [1 2 3]", got)
	}
}

func TestRotateStoreFailureKeepsCurrent(t *testing.T) {
	store := &memStore{}
	k := newTestKeyring(t, store)
	store.putErr = errors.New("disk full")
	if _, err := k.Rotate(context.Background()); !errors.Is(err, store.putErr) {
		t.Fatalf("Rotate with failing store: err = %v", err)
	}
	if k.Current() != 1 || len(k.Versions()) != 1 {
		t.Errorf("failed Rotate changed the keyring: current %d, %d versions", k.Current(), len(k.Versions()))
	}
	_, w, _ := k.NewDEK(nil)
	if v, _ := WrappedVersion(w); v != 1 {
		t.Errorf("DEK wrapped under unpersisted version %d", v)
	}
}

func TestRewrapDEK(t *testing.T) {
	k := newTestKeyring(t, &memStore{})
	ad := []byte("blob-7")
	dek, w1, _ := k.NewDEK(ad)
	if _, err := k.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	w2, v, err := k.RewrapDEK(w1, ad)
	if err != nil || v != 2 {
		t.Fatalf("RewrapDEK = version %d, %v; want 2", v, err)
	}
	if got, _ := WrappedVersion(w2); got != 2 {
		t.Errorf("rewrapped names version %d", got)
	}
	if got, err := k.UnwrapDEK(w2, ad); err != nil || got != dek {
		t.Errorf("rewrapped DEK does not unwrap to the DEK: %v", err)
	}
	if _, _, err := k.RewrapDEK(w1, []byte("blob-8")); !errors.Is(err, ErrIntegrity) {
		t.Errorf("RewrapDEK with wrong ad: err = %v, want ErrIntegrity", err)
	}
	// A sealed secret is not a DEK.
	s, _ := k.Seal(make([]byte, 32), ad)
	if _, _, err := k.RewrapDEK(s, ad); !errors.Is(err, ErrIntegrity) {
		t.Errorf("RewrapDEK of a sealed secret: err = %v, want ErrIntegrity", err)
	}
}

func TestUnwrapFailures(t *testing.T) {
	k := newTestKeyring(t, &memStore{})
	ad := []byte("blob-1")
	_, wrapped, _ := k.NewDEK(ad)
	sealed, _ := k.Seal([]byte("hunter2"), ad)
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	flip := func(i int) func([]byte) []byte { return func(b []byte) []byte { b[i] ^= 1; return b } }
	setVersion := func(v byte) func([]byte) []byte { return func(b []byte) []byte { b[3] = v; return b } }

	tests := []struct {
		name    string
		wrapped []byte
		ad      []byte
		want    error
	}{
		{"flip nonce", mod(wrapped, flip(versionSize)), ad, ErrIntegrity},
		{"flip ciphertext", mod(wrapped, flip(versionSize+gcmNonceSize)), ad, ErrIntegrity},
		{"flip tag", mod(wrapped, flip(len(wrapped)-1)), ad, ErrIntegrity},
		{"truncated", wrapped[:len(wrapped)-1], ad, ErrIntegrity},
		{"extended", append(slices.Clone(wrapped), 0), ad, ErrIntegrity},
		{"too short", wrapped[:wrapOverhead-1], ad, ErrIntegrity},
		{"empty", nil, ad, ErrIntegrity},
		{"wrong ad", wrapped, []byte("blob-2"), ErrIntegrity},
		{"nil ad", wrapped, nil, ErrIntegrity},
		{"sealed secret as DEK", sealed, ad, ErrIntegrity},
		{"unknown version", mod(wrapped, setVersion(99)), ad, ErrUnknownKEK},
		{"version 0", mod(wrapped, setVersion(0)), ad, ErrUnknownKEK},
		{"huge version", mod(wrapped, func(b []byte) []byte { b[0] = 0xff; return b }), ad, ErrUnknownKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.UnwrapDEK(tt.wrapped, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The DEK wrapping does not open as a secret either.
	if _, err := k.Open(wrapped, ad); !errors.Is(err, ErrIntegrity) {
		t.Errorf("Open of a wrapped DEK: err = %v, want ErrIntegrity", err)
	}
}

func TestSealOpen(t *testing.T) {
	k := newTestKeyring(t, &memStore{})
	for _, n := range []int{0, 1, 40, 4096} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plain := pattern(n)
			ad := []byte("user/alice/s3-secret")
			sealed, err := k.Seal(plain, ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != n+wrapOverhead {
				t.Errorf("sealed %d bytes, want %d", len(sealed), n+wrapOverhead)
			}
			got, err := k.Open(sealed, ad)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Open = %d bytes, %v", len(got), err)
			}
			if _, err := k.Open(sealed, []byte("user/bob/s3-secret")); !errors.Is(err, ErrIntegrity) {
				t.Errorf("wrong ad: err = %v, want ErrIntegrity", err)
			}
			sealed[len(sealed)/2] ^= 0x40
			if _, err := k.Open(sealed, ad); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrUnknownKEK) {
				t.Errorf("tampered: err = %v, want ErrIntegrity", err)
			}
		})
	}
}

func TestWrappedVersion(t *testing.T) {
	for _, tt := range []struct {
		in      []byte
		want    int
		wantErr error
	}{
		{append([]byte{0, 0, 0, 7}, make([]byte, 28)...), 7, nil},
		{append([]byte{0, 1, 0, 0}, make([]byte, 28)...), 65536, nil},
		{[]byte{0, 0, 0, 7}, 0, ErrIntegrity},
		{nil, 0, ErrIntegrity},
	} {
		got, err := WrappedVersion(tt.in)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("WrappedVersion(%x) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestKeyringReopen(t *testing.T) {
	store := &memStore{}
	ctx := context.Background()
	k1 := newTestKeyring(t, store)
	dekA, wA, _ := k1.NewDEK([]byte("a"))
	k1.Rotate(ctx)
	dekB, wB, _ := k1.NewDEK([]byte("b"))
	sealed, _ := k1.Seal([]byte("totp seed"), nil)

	k2 := newTestKeyring(t, store)
	if k2.Current() != 2 {
		t.Errorf("reopened Current = %d, want 2", k2.Current())
	}
	if !slices.Equal(k1.Versions(), k2.Versions()) {
		t.Errorf("reopened Versions = %+v, want %+v", k2.Versions(), k1.Versions())
	}
	if got, err := k2.UnwrapDEK(wA, []byte("a")); err != nil || got != dekA {
		t.Errorf("reopened keyring, version 1 DEK: %v", err)
	}
	if got, err := k2.UnwrapDEK(wB, []byte("b")); err != nil || got != dekB {
		t.Errorf("reopened keyring, version 2 DEK: %v", err)
	}
	if got, err := k2.Open(sealed, nil); err != nil || string(got) != "totp seed" {
		t.Errorf("reopened keyring, sealed secret: %q, %v", got, err)
	}
	if len(store.keks) != 2 {
		t.Errorf("reopening wrote to the store: %d KEKs", len(store.keks))
	}
}

func TestReload(t *testing.T) {
	store := &memStore{}
	ctx := context.Background()
	a := newTestKeyring(t, store)
	b := newTestKeyring(t, store)
	a.Rotate(ctx)
	_, w, _ := a.NewDEK(nil)
	if _, err := b.UnwrapDEK(w, nil); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("before Reload: err = %v, want ErrUnknownKEK", err)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Current() != 2 {
		t.Errorf("after Reload Current = %d, want 2", b.Current())
	}
	if _, err := b.UnwrapDEK(w, nil); err != nil {
		t.Errorf("after Reload: %v", err)
	}
	// Rotating from a stale keyring fails in the store instead of forking.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(ctx); err == nil {
		t.Error("stale Rotate installed a version that already exists")
	}
}

func TestNewKeyringFailures(t *testing.T) {
	ctx := context.Background()
	good := &memStore{}
	newTestKeyring(t, good)

	if _, err := NewKeyring(ctx, testRoot(2), good); !errors.Is(err, ErrIntegrity) {
		t.Errorf("wrong root key: err = %v, want ErrIntegrity", err)
	}
	tampered := &memStore{keks: slices.Clone(good.keks)}
	tampered.keks[0].Wrapped = slices.Clone(tampered.keks[0].Wrapped)
	tampered.keks[0].Wrapped[20] ^= 1
	if _, err := NewKeyring(ctx, testRoot(1), tampered); !errors.Is(err, ErrIntegrity) {
		t.Errorf("tampered KEK: err = %v, want ErrIntegrity", err)
	}
	renumbered := &memStore{keks: slices.Clone(good.keks)}
	renumbered.keks[0].Version = 2
	if _, err := NewKeyring(ctx, testRoot(1), renumbered); !errors.Is(err, ErrIntegrity) {
		t.Errorf("KEK stored under another version: err = %v, want ErrIntegrity", err)
	}
	short := &memStore{keks: slices.Clone(good.keks)}
	short.keks[0].Wrapped = short.keks[0].Wrapped[:40]
	if _, err := NewKeyring(ctx, testRoot(1), short); !errors.Is(err, ErrIntegrity) {
		t.Errorf("short wrapped KEK: err = %v, want ErrIntegrity", err)
	}
	dup := &memStore{keks: append(slices.Clone(good.keks), good.keks[0])}
	if _, err := NewKeyring(ctx, testRoot(1), dup); err == nil {
		t.Error("duplicate version accepted")
	}
	zero := &memStore{keks: slices.Clone(good.keks)}
	zero.keks[0].Version = 0
	if _, err := NewKeyring(ctx, testRoot(1), zero); err == nil {
		t.Error("version 0 accepted")
	}
	listErr := &memStore{listErr: errors.New("db down")}
	if _, err := NewKeyring(ctx, testRoot(1), listErr); !errors.Is(err, listErr.listErr) {
		t.Errorf("list failure: err = %v", err)
	}
	putErr := &memStore{putErr: errors.New("read-only")}
	if _, err := NewKeyring(ctx, testRoot(1), putErr); !errors.Is(err, putErr.putErr) {
		t.Errorf("put failure: err = %v", err)
	}
	if _, err := NewKeyring(ctx, testRoot(1), nil); err == nil {
		t.Error("nil store accepted")
	}
}

func TestZeroKeyringDoesNotPanic(t *testing.T) {
	var k Keyring
	if _, _, err := k.NewDEK(nil); err == nil {
		t.Error("NewDEK on a zero Keyring succeeded")
	}
	if _, err := k.Rotate(context.Background()); err == nil {
		t.Error("Rotate on a zero Keyring succeeded")
	}
	if _, err := k.UnwrapDEK(make([]byte, 48), nil); err == nil {
		t.Error("UnwrapDEK on a zero Keyring succeeded")
	}
}

func TestKeyringConcurrent(t *testing.T) {
	k := newTestKeyring(t, &memStore{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				ad := []byte(fmt.Sprintf("%d/%d", g, i))
				dek, w, err := k.NewDEK(ad)
				if err != nil {
					errs <- err
					return
				}
				if got, err := k.UnwrapDEK(w, ad); err != nil || got != dek {
					errs <- fmt.Errorf("unwrap: %v", err)
					return
				}
				if _, _, err := k.RewrapDEK(w, ad); err != nil {
					errs <- err
					return
				}
				k.Versions()
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := k.Rotate(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if k.Current() != 6 {
		t.Errorf("Current = %d, want 6", k.Current())
	}
}
