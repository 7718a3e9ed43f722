package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-vault/coffer/internal/audit"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServersWitnessEachOther runs two servers on loopback, each a witness
// for the other's ledger: both ledgers get cosigned checkpoints that
// Verify accepts with the peer's witness key and a quorum of one. Then one
// server's ledger is rolled back to an older copy: its witness refuses it.
func TestServersWitnessEachOther(t *testing.T) {
	ctx := context.Background()
	type node struct {
		dir, addr, logKey, witKey, ca string
		srv                           *Server
	}
	nodes := []*node{{dir: t.TempDir(), addr: freePort(t)}, {dir: t.TempDir(), addr: freePort(t)}}
	for _, n := range nodes {
		s, err := Start(ctx, Config{DataDir: n.dir, Addr: n.addr, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		n.logKey, n.ca = s.AuditPublicKey(), s.CAFile()
		s.Shutdown(ctx)
		w, err := audit.NewWitness(WitnessDir(n.dir), audit.WitnessOptions{Name: "coffer-witness"})
		if err != nil {
			t.Fatal(err)
		}
		n.witKey = w.PublicKey()
	}
	start := func(i int) *Server {
		n, peer := nodes[i], nodes[1-i]
		s, err := Start(ctx, Config{
			DataDir: n.dir, Addr: n.addr, Logger: slog.New(slog.DiscardHandler),
			WitnessFor:    []string{peer.logKey},
			Witnesses:     []audit.WitnessConfig{{Name: "peer", URL: "https://" + peer.addr + "/witness", VerifierKey: peer.witKey}},
			WitnessCAFile: peer.ca,
		})
		if err != nil {
			t.Fatal(err)
		}
		n.srv = s
		t.Cleanup(func() { s.Shutdown(ctx) })
		return s
	}
	start(0)
	start(1)
	put := func(s *Server, key string) {
		t.Helper()
		mc := minioClient(t, s, readCreds(t, s))
		if err := mc.MakeBucket(ctx, "wit", minio.MakeBucketOptions{}); err != nil && !strings.Contains(err.Error(), "own") {
			t.Fatal(err)
		}
		if _, err := mc.PutObject(ctx, "wit", key, strings.NewReader(key), int64(len(key)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(s *Server) error {
		if err := s.ledger.log.Publish(ctx); err != nil {
			return err
		}
		return s.ledger.log.SyncWitnesses(ctx)
	}
	for round := range 3 {
		for _, n := range nodes {
			put(n.srv, fmt.Sprintf("k%d", round))
			if err := sync(n.srv); err != nil {
				t.Fatalf("round %d: witnessing %s: %v (%+v)", round, n.dir, err, n.srv.ledger.log.WitnessStatus())
			}
		}
	}
	// Offline, each ledger verifies with its peer's witness as quorum.
	snapshot := t.TempDir()
	for i, n := range nodes {
		n.srv.Shutdown(ctx)
		rep, err := audit.Verify(ctx, LedgerDir(n.dir), audit.VerifyOptions{
			PublicKey: n.logKey, Witnesses: []string{nodes[1-i].witKey}, WitnessQuorum: 1,
		})
		if err != nil {
			t.Fatalf("ledger %d with its peer's cosignatures: %v", i, err)
		}
		// The checkpoint signed at shutdown may postdate the peer's stop;
		// everything before the stop event is witnessed.
		if rep.WitnessedSize < rep.Size-2 {
			t.Errorf("ledger %d: witnessed %d of %d entries", i, rep.WitnessedSize, rep.Size)
		}
		// A verifier that trusts another witness finds no quorum.
		if _, err := audit.Verify(ctx, LedgerDir(n.dir), audit.VerifyOptions{
			PublicKey: n.logKey, Witnesses: []string{n.witKey}, WitnessQuorum: 1,
		}); err == nil {
			t.Errorf("ledger %d verified with a quorum of a witness that never saw it", i)
		}
	}
	// Keep a copy of node 0's ledger, let it grow and be witnessed, then
	// roll it back to the copy.
	if out, err := exec.Command("cp", "-a", LedgerDir(nodes[0].dir), snapshot).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	start(1)
	start(0)
	put(nodes[0].srv, "grown")
	if err := sync(nodes[0].srv); err != nil {
		t.Fatal(err)
	}
	nodes[0].srv.Shutdown(ctx)
	if err := os.RemoveAll(LedgerDir(nodes[0].dir)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(snapshot, "audit"), LedgerDir(nodes[0].dir)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := start(0)
	err := sync(s)
	if !errors.Is(err, audit.ErrNoQuorum) {
		t.Fatalf("a rolled-back ledger was witnessed: %v (%+v)", err, s.ledger.log.WitnessStatus())
	}
	st := s.ledger.log.WitnessStatus()
	if len(st.Witnesses) != 1 || st.Witnesses[0].LastError == "" {
		t.Fatalf("witness status after a rollback: %+v", st)
	}
	t.Logf("the peer refused the rolled-back ledger: %s", st.Witnesses[0].LastError)
}
