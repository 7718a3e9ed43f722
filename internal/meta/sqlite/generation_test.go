package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// TestWriteGeneration: every write, successful or refused, moves the
// generation before it returns; reads do not.
func TestWriteGeneration(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	g0 := s.WriteGeneration()
	if err := s.CreateUser(ctx, meta.User{Name: "ann", PasswordHash: "x", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	g1 := s.WriteGeneration()
	if g1 == g0 {
		t.Fatal("a committed write left the generation unchanged")
	}
	if _, err := s.GetUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if g := s.WriteGeneration(); g != g1 {
		t.Fatalf("a read moved the generation: %d -> %d", g1, g)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "ann", PasswordHash: "x", Created: time.Now()}); err == nil {
		t.Fatal("duplicate user created")
	}
	if g := s.WriteGeneration(); g == g1 {
		t.Fatal("a refused write left the generation unchanged")
	}
	g2 := s.WriteGeneration()
	if err := s.UpdateUser(ctx, "ann", func(u *meta.User) error { u.Roles = []string{"admin"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if s.WriteGeneration() == g2 {
		t.Fatal("an update left the generation unchanged")
	}
	g3 := s.WriteGeneration()
	if err := s.DeleteUser(ctx, "nobody"); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Fatalf("delete missing user: %v", err)
	}
	if s.WriteGeneration() == g3 {
		t.Fatal("a failed delete left the generation unchanged")
	}
}
