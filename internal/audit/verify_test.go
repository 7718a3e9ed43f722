package audit

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The ledger from buildLedger: 700 entries in segments 0, 256 and 512;
// checkpoints 1..4 at sizes 0, 300, 600 and 700.
const (
	seg256 = "log/00000000000000000256"
	seg512 = "log/00000000000000000512"
	ckpt2  = "checkpoints/00000000000000000002"
	ckpt3  = "checkpoints/00000000000000000003"
	ckpt5  = "checkpoints/00000000000000000005"
)

func TestVerifyGood(t *testing.T) {
	tl := buildLedger(t)
	rep, err := tl.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 700 || rep.Checkpoints != 4 || rep.PayloadsChecked != 700 || rep.TilesChecked == 0 {
		t.Fatalf("report %+v", rep)
	}
	// Without a sealer the tree is still verified.
	if _, err := Verify(context.Background(), tl.dir, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// resign signs a checkpoint body with the ledger's own key (an operator
// rewriting history).
func resign(t *testing.T, tl testLedger, n int64, root tlog.Hash) []byte {
	t.Helper()
	skey := strings.TrimSpace(string(readFile(t, tl.path("key"))))
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := signCheckpoint(Checkpoint{Origin: s.Name(), Tree: tlog.Tree{N: n, Hash: root}}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestVerifyTamper(t *testing.T) {
	rec := func(n int64) int64 { return (n % 256) * logRecordSize }
	tests := []struct {
		name      string
		tamper    func(t *testing.T, tl testLedger)
		wantIndex int64
		wantPath  string
		wantWords string
	}{
		{"change one byte of an entry", func(t *testing.T, tl testLedger) {
			b := readFile(t, tl.path(seg256))
			b[rec(300)+7] ^= 0x20
			writeFile(t, tl.path(seg256), b)
		}, 300, seg256, "checksum"},
		{"change one byte of an entry and fix its checksum", func(t *testing.T, tl testLedger) {
			b := readFile(t, tl.path(seg256))
			e := clone(b[rec(300) : rec(300)+entrySize])
			e[7] ^= 0x20
			copy(b[rec(300):], appendLogRecord(nil, 300, e))
			writeFile(t, tl.path(seg256), b)
		}, 300, "", ""},
		{"drop an entry", func(t *testing.T, tl testLedger) {
			b := readFile(t, tl.path(seg256))
			b = append(b[:rec(300)], b[rec(301):]...)
			writeFile(t, tl.path(seg256), b)
		}, 300, seg256, "checksum"},
		{"swap two entries", func(t *testing.T, tl testLedger) {
			b := readFile(t, tl.path(seg256))
			x := clone(b[rec(400) : rec(400)+logRecordSize])
			copy(b[rec(400):], b[rec(401):rec(401)+logRecordSize])
			copy(b[rec(401):], x)
			writeFile(t, tl.path(seg256), b)
		}, 400, seg256, "checksum"},
		{"truncate the log", func(t *testing.T, tl testLedger) {
			if err := os.Truncate(tl.path(seg512), 50*logRecordSize); err != nil {
				t.Fatal(err)
			}
		}, 562, "checkpoints/00000000000000000004", "truncated"},
		{"truncate the log mid-record", func(t *testing.T, tl testLedger) {
			if err := os.Truncate(tl.path(seg512), 50*logRecordSize+9); err != nil {
				t.Fatal(err)
			}
		}, 562, seg512, "partial record"},
		{"remove a segment", func(t *testing.T, tl testLedger) {
			os.Remove(tl.path(seg256))
		}, 256, seg512, "segment starts at 512"},
		{"replace a checkpoint", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path(ckpt3), resign(t, tl, 600, tlog.Hash{1}))
		}, 300, ckpt3, "do not hash to the checkpoint's root"},
		{"replace the published checkpoint", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path("checkpoint"), readFile(t, tl.path(ckpt3)))
		}, -1, "checkpoint", "not the latest"},
		{"sign a checkpoint with another key", func(t *testing.T, tl testLedger) {
			signWithOtherKey(t, tl, ckpt3)
		}, -1, ckpt3, "does not verify"},
		{"fork: two checkpoints of the same size", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path(ckpt5), resign(t, tl, 600, tlog.Hash{2}))
		}, -1, ckpt5, "fork"},
		{"rollback: a checkpoint for a smaller tree", func(t *testing.T, tl testLedger) {
			c, _ := OpenCheckpoint(readFile(t, tl.path(ckpt2)), mustPub(t, tl))
			writeFile(t, tl.path(ckpt5), resign(t, tl, 299, c.Tree.Hash))
		}, -1, ckpt5, "backwards"},
		{"change a payload", func(t *testing.T, tl testLedger) {
			p := tl.path("payloads/00000000000000000000")
			b := readFile(t, p)
			b[len(b)/2] ^= 1 // breaks the record CRC
			writeFile(t, p, b)
		}, -2, "payloads/00000000000000000000", "payload"},
		{"tamper with a tile", func(t *testing.T, tl testLedger) {
			p := tl.path("tile/0/001")
			b := readFile(t, p)
			b[5*32] ^= 1
			writeFile(t, p, b)
		}, 256 + 5, "tile/0/001", "tile differs"},
		{"a second spelling of a checkpoint name", func(t *testing.T, tl testLedger) {
			writeFile(t, tl.path("checkpoints/+0000000000000000003"), readFile(t, tl.path(ckpt3)))
		}, -1, "checkpoints", "unexpected file"},
		// Files larger than they may be are refused without reading them
		// whole (a hostile copy of a ledger cannot exhaust memory).
		{"oversized tile", func(t *testing.T, tl testLedger) {
			p := tl.path("tile/0/001")
			writeFile(t, p, append(readFile(t, p), make([]byte, 1<<20)...))
		}, 256, "tile/0/001", "larger than 8192 bytes"},
		{"oversized published checkpoint", func(t *testing.T, tl testLedger) {
			p := tl.path("checkpoint")
			writeFile(t, p, append(readFile(t, p), make([]byte, maxCheckpointSize)...))
		}, -1, "checkpoint", "larger than"},
		{"oversized history checkpoint", func(t *testing.T, tl testLedger) {
			p := tl.path(ckpt3)
			writeFile(t, p, append(readFile(t, p), make([]byte, maxCheckpointSize)...))
		}, -1, "checkpoints", "file too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := buildLedger(t)
			tt.tamper(t, tl)
			_, err := tl.verify(t)
			checkVerifyError(t, err, tt.wantIndex, tt.wantPath, tt.wantWords)
		})
	}
}

func mustPub(t *testing.T, tl testLedger) string {
	t.Helper()
	k, err := ReadPublicKey(tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyWithPublishedKey(t *testing.T) {
	tl := buildLedger(t)
	other := buildLedger(t)
	// A whole replacement log (new key, new key.pub) verifies on its own
	// key but not against the key published for the original.
	_, err := Verify(context.Background(), other.dir, VerifyOptions{PublicKey: mustPub(t, tl)})
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Verify with the original key = %v, want ErrIntegrity", err)
	}
}

// TestProofsCheckedByTlog checks our inclusion and consistency proofs with
// x/mod/sumdb/tlog's verifier, against hashes from the signed checkpoints.
func TestProofsCheckedByTlog(t *testing.T) {
	tl := buildLedger(t)
	ctx := context.Background()
	pub := mustPub(t, tl)
	for _, n := range []int64{0, 1, 255, 256, 299, 300, 511, 512, 698, 699} {
		p, err := Prove(ctx, tl.dir, pub, n)
		if err != nil {
			t.Fatalf("Prove(%d): %v", n, err)
		}
		c, err := OpenCheckpoint(p.Checkpoint, pub)
		if err != nil || c.Tree != p.Tree || c.Tree.N != 700 {
			t.Fatalf("proof tree %+v is not the signed checkpoint: %v", p.Tree, err)
		}
		if err := tlog.CheckRecord(p.Proof, c.Tree.N, c.Tree.Hash, n, tlog.RecordHash(p.Entry)); err != nil {
			t.Fatalf("CheckRecord(%d): %v", n, err)
		}
		// A proof for another entry must not verify.
		bad := clone(p.Entry)
		bad[0] ^= 1
		if tlog.CheckRecord(p.Proof, c.Tree.N, c.Tree.Hash, n, tlog.RecordHash(bad)) == nil {
			t.Fatalf("CheckRecord accepted a wrong entry at %d", n)
		}
	}
	if _, err := Prove(ctx, tl.dir, pub, 700); err == nil {
		t.Fatal("Prove beyond the tree succeeded")
	}
	// Consistency between the stored checkpoints (roots from the notes).
	roots := map[int64]tlog.Hash{}
	hist, _ := readCheckpointHistory(tl.dir)
	for _, h := range hist {
		c, err := OpenCheckpoint(h.data, pub)
		if err != nil {
			t.Fatal(err)
		}
		roots[c.Tree.N] = c.Tree.Hash
	}
	pairs := [][2]int64{{300, 600}, {600, 700}, {300, 700}, {1, 700}, {257, 513}, {700, 700}}
	for _, pr := range pairs {
		p, err := Consistency(ctx, tl.dir, pub, pr[0], pr[1])
		if err != nil {
			t.Fatalf("Consistency%v: %v", pr, err)
		}
		for _, tr := range []tlog.Tree{p.Old, p.New} {
			if want, ok := roots[tr.N]; ok && want != tr.Hash {
				t.Fatalf("Consistency%v: root of %d is not the signed one", pr, tr.N)
			}
		}
		if err := tlog.CheckTree(p.Proof, p.New.N, p.New.Hash, p.Old.N, p.Old.Hash); err != nil {
			t.Fatalf("CheckTree%v: %v", pr, err)
		}
		if pr[0] > 0 && tlog.CheckTree(p.Proof, p.New.N, p.New.Hash, p.Old.N, tlog.Hash{9}) == nil {
			t.Fatalf("CheckTree%v accepted a wrong old root", pr)
		}
	}
}

func TestProveRefusesTamperedTiles(t *testing.T) {
	tl := buildLedger(t)
	p := tl.path("tile/0/001")
	b := readFile(t, p)
	b[0] ^= 1
	writeFile(t, p, b)
	if _, err := Prove(context.Background(), tl.dir, "", 300); err == nil {
		t.Fatal("Prove used a tampered tile")
	}
}

// An Erase interrupted after its marker, before the key files were
// removed, still leaves the subject erased: Open refuses the old payloads
// (in the same sealer and after a restart), and a retried Erase removes the
// leftover key.
func TestEraseInterrupted(t *testing.T) {
	dir := t.TempDir()
	s, err := NewDirSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := SubjectID("alice")
	sealed, err := s.Seal(id, []byte("secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	// The crash: the marker is durable, key file 1 is still there.
	writeFile(t, filepath.Join(dir, id, "erased"), []byte("1"))
	restarted, err := NewDirSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := restarted.Open(id, sealed, []byte("ad")); !errors.Is(err, ErrErased) {
		t.Fatalf("Open after an interrupted erase = %q, %v; want ErrErased", pt, err)
	}
	if err := restarted.Erase(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, id, "1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("key file left after a retried erase: %v", err)
	}
	// A failed removal in Erase itself: the subject is erased at once.
	s2, err := NewDirSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err = s2.Seal(id, []byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(s2.dir, id, "1")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(keyFile, 0o700); err != nil { // not removable: a non-empty directory
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(keyFile, "x"), nil)
	if err := s2.Erase(id); err == nil {
		t.Fatal("Erase succeeded with an unremovable key file")
	}
	if _, err := s2.Open(id, sealed, nil); !errors.Is(err, ErrErased) {
		t.Fatalf("Open after a failed Erase = %v; want ErrErased", err)
	}
}

func TestErase(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{})
	ctx := context.Background()
	appendN(t, l, 0, 400, 8) // users alice, bob, carol, system in turn
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, tl.path("checkpoint"))
	if err := l.Erase(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// Later events of the same subject use a new key and stay readable.
	ev := testEvent(400)
	if _, err := l.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// A fresh sealer over the same key directory sees the erasure.
	s, err := NewDirSealer(tl.sealer.dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, tl.dir, VerifyOptions{Sealer: s})
	if err != nil {
		t.Fatalf("Verify after erase: %v", err)
	}
	if rep.Erased != 100 || rep.PayloadsChecked != 301 || len(rep.ErasedSubjects) != 1 || rep.ErasedSubjects[0] != SubjectID("alice") {
		t.Fatalf("report after erase: %+v", rep)
	}
	// Checkpoints signed before the erasure still hold, and proofs still work.
	if !bytes.Contains(readFile(t, tl.path("checkpoints/00000000000000000002")), before[:20]) {
		t.Fatal("checkpoint history changed")
	}
	if p, err := Prove(ctx, tl.dir, "", 0); err != nil || tlog.CheckRecord(p.Proof, p.Tree.N, p.Tree.Hash, 0, tlog.RecordHash(p.Entry)) != nil {
		t.Fatalf("proof for an erased entry: %v", err)
	}
	counts := map[string]int{}
	err = ReadPayloads(ctx, tl.dir, s, func(ev Event) error {
		counts[ev.Subject()]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts["alice"] != 1 || counts["bob"] != 100 || counts["carol"] != 100 || counts[SystemSubject] != 100 {
		t.Fatalf("readable payloads after erase: %v", counts)
	}
	// No trace of the name in the payload store or the tiles.
	for _, p := range []string{"payloads/00000000000000000000", "tile/entries/000"} {
		if bytes.Contains(readFile(t, tl.path(p)), []byte("alice")) {
			t.Fatalf("%s contains the subject's name", p)
		}
	}
}
